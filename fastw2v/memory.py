"""The memory budget: refuse, with the estimate and what to change, a run that cannot fit.

:func:`check_memory` refuses weights that cannot fit in the machine's memory,
:func:`check_batch_memory` a Keras batch whose step cannot, and
:func:`check_device_memory` (with :func:`device_memory_refusal`) a model and batch that
cannot fit on the accelerator.
"""

from __future__ import annotations

from typing import Optional

from .errors import InsufficientMemoryError

def check_memory(vocab_size: int, dim: int, available: Optional[int] = None) -> None:
    """Refuse, with the estimate, two float32 ``vocab_size x dim`` matrices that cannot fit.

    ``available`` defaults to the kernel's MemAvailable; where that is unknown, nothing
    is refused.
    """
    _refuse(2 * vocab_size * dim * 4, 0.9, available,
            f"the weights need {{need}} (2 x {vocab_size:,} words x dim {dim} x 4 bytes)", "lower --dim or --max-vocab")


def _refuse(need: int, share: float, available: Optional[int], what: str, advice: str) -> None:
    """Raise InsufficientMemoryError if ``need`` bytes exceed ``share`` of the available memory.

    ``what`` is formatted with ``need`` in GiB; ``available`` defaults to MemAvailable.
    """
    if available is None:
        available = available_memory()
    if available is not None and need > share * available:
        raise InsufficientMemoryError(f"{what.format(need=f'{need / 2**30:.1f} GiB')} but only "
                                      f"{available / 2**30:.1f} GiB of memory is available; {advice}")


def available_memory() -> Optional[int]:
    """Bytes of memory available to new allocations (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: Float32 arrays of ``rows x columns x dim`` one Keras sgns step holds at once: the
#: gathered output rows, their gradients, and the copies TensorFlow makes of both.
BATCH_TENSOR_COPIES = 6


def batch_memory(batch_size: int, columns: int, dim: int) -> int:
    """Bytes one Keras step of ``batch_size`` rows of ``columns`` outputs at ``dim`` needs, estimated."""
    return BATCH_TENSOR_COPIES * batch_size * columns * dim * 4


def check_batch_memory(batch_size: int, columns: int, dim: int, available: Optional[int] = None) -> None:
    """Refuse, with the estimate, a Keras batch whose step tensors cannot fit in memory."""
    _refuse(batch_memory(batch_size, columns, dim), 0.5, available,
            f"--batch-size {batch_size:,} needs about {{need}} per step ({BATCH_TENSOR_COPIES} x {batch_size:,} rows "
            f"x {columns} outputs x dim {dim} x 4 bytes)", "lower --batch-size")


#: ``V x dim`` float32 arrays a Keras step holds on its device: the two tables and the
#: per-row sums of their gradients (the tutorial: one table, its RMSprop velocity, the sums).
DEVICE_TABLE_COPIES = 4


def device_memory(vocab_size: int, dim: int, batch_size: int, columns: int) -> int:
    """Bytes a Keras step needs on its accelerator, estimated: the tables and one step's tensors."""
    return DEVICE_TABLE_COPIES * vocab_size * dim * 4 + batch_memory(batch_size, columns, dim)


def device_memory_refusal(vocab_size: int, dim: int, batch_size: int, columns: int,
                          available: Optional[int]) -> InsufficientMemoryError:
    """The error for a Keras step that does not fit in the accelerator's memory (``available`` bytes)."""
    need = device_memory(vocab_size, dim, batch_size, columns)
    has = f"the accelerator has {available / 2**30:.1f} GiB" if available else "the accelerator ran out of memory"
    return InsufficientMemoryError(
        f"--batch-size {batch_size:,} needs about {need / 2**30:.1f} GiB of accelerator memory ({DEVICE_TABLE_COPIES} x "
        f"{vocab_size:,} words x dim {dim} for the tables, and {BATCH_TENSOR_COPIES} x {batch_size:,} rows x {columns} "
        f"outputs x dim {dim} for the step, 4 bytes each) but {has}; lower --batch-size")


def check_device_memory(available: Optional[int], vocab_size: int, dim: int, batch_size: int, columns: int) -> None:
    """Refuse, with the estimate, a Keras step that cannot fit in ``available`` accelerator bytes.

    ``available`` None (no accelerator, or one that does not say) refuses nothing; a CPU
    run is checked against the host's memory by :func:`check_batch_memory`.
    """
    if available is not None and device_memory(vocab_size, dim, batch_size, columns) > 0.9 * available:
        raise device_memory_refusal(vocab_size, dim, batch_size, columns, available)
