"""A quiet start for the Keras path: TensorFlow's, XLA's and CUDA's own start-up lines, filtered.

Importing TensorFlow on a machine without a GPU prints a dozen native log lines to
file descriptor 2: abseil's preamble, "Could not find cuda drivers", CPU-feature
notes, "failed call to cuInit", XLA's service banner. Some come before abseil reads
``TF_CPP_MIN_LOG_LEVEL``, so the variable alone cannot silence them, and they come
from C++, so Python's ``sys.stderr`` never sees them.

:func:`native_start_up_filtered` sets ``TF_CPP_MIN_LOG_LEVEL=1`` (native info lines
off, warnings and errors on) unless the user set it, and points descriptor 2 at a
temporary file while Keras and its backend start. Afterwards it writes back every
line that is not one of those start-up notices, so a real warning or error still
shows. The command line does this unless ``--verbose`` is given; the library never
touches descriptor 2 by itself. It imports neither Keras nor a backend.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

#: start-up notices that say nothing to a user of a machine without a GPU
NOISE = re.compile("|".join([
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"^I\d{4} ",  # native info lines (before abseil has read TF_CPP_MIN_LOG_LEVEL)
    r"^E\d{4} .*(failed call to cuInit|cuda_platform|cuda_executor)",  # no CUDA device here
    r"^W\d{4} .*(cuda|TF-TRT|Could not find TensorRT)",
    r"^To enable the following instructions: .*rebuild TensorFlow",  # the CPU-feature note's 2nd line
    r"^WARNING:jax\._src\.xla_bridge:.*(No GPU/TPU found|CUDA-enabled jaxlib)",
    r"^An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not installed",
]))


def is_noise(line: str) -> bool:
    """Whether a native log line is one of the start-up notices this module filters."""
    return NOISE.search(line) is not None


@contextlib.contextmanager
def native_start_up_filtered(environ=None):
    """Within the block, descriptor 2 goes to a file; after it, all but :data:`NOISE` lines are written back."""
    environ = os.environ if environ is None else environ
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (an embedding host): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = "".join(line for line in text.splitlines(keepends=True) if not is_noise(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
