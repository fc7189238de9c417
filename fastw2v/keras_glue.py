"""The backend glue module for the backend Keras has loaded (imports Keras)."""

from __future__ import annotations

import keras

from .errors import UsageError
from .keras_backend import SUPPORTED


def glue():
    """:mod:`fastw2v.keras_tf` or :mod:`fastw2v.keras_jax`, for the backend Keras has loaded."""
    name = keras.backend.backend()
    if name == "tensorflow":
        from . import keras_tf as module
    elif name == "jax":
        from . import keras_jax as module
    else:
        raise UsageError(f"Keras runs on the {name!r} backend, which fastw2v's Keras path does not support; set "
                         f"KERAS_BACKEND to one of {', '.join(SUPPORTED)} before Keras is imported")
    return module
