"""Checking a declared contract: the members a ``typing.Protocol`` names that an object lacks.

The parts of fastw2v declare what they ask of each other as protocols (the runner's
:class:`~fastw2v.runner.Trainer`, the Keras backend glue's
:class:`~fastw2v.keras_glue.BackendGlue`); :func:`missing_members` says what an
implementation lacks, for a refusal that names it and for the tests.
"""

from __future__ import annotations

import inspect
from typing import List, Protocol

_ABSENT = object()


def missing_members(obj, protocol) -> List[str]:
    """The members ``protocol`` declares (methods, properties and annotated attributes) that ``obj`` lacks."""
    names = set()
    for klass in protocol.__mro__:
        if klass in (Protocol, object) or not getattr(klass, "_is_protocol", False):
            continue
        names |= {n for n in vars(klass) if not n.startswith("_")}
        names |= set(getattr(klass, "__annotations__", {}))
    # looked up without running a property (one may refuse before the object is trained)
    return sorted(n for n in names if inspect.getattr_static(obj, n, _ABSENT) is _ABSENT)
