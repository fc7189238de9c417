"""One epoch of batches from the pair generator, in the form Keras' ``fit`` takes.

:class:`EpochFeed` is the backend-neutral feed: a Python iterable of
``((targets, contexts),)`` (the ``rows`` layout) or ``((targets, contexts), labels)``
(``flat``) batches, cut from the :class:`~fastw2v.pairs.PairGenerator`'s blocks. The
blocks are made in the generator's background thread, and the batches are cut and
queued in one more (:class:`~fastw2v.pairs.background`), so the training step never
waits on Python. JAX's ``fit`` iterates it directly; TensorFlow wraps it in
``tf.data`` (:func:`fastw2v.keras_tf.fit_data`). It imports neither.
"""

from __future__ import annotations

from typing import Callable, Iterator, Optional

from .config import check_int
from .pairs import PairGenerator, background
from .segments import pad_rows


class EpochFeed:
    """The batches of epoch ``epoch``, from batch ``skip`` on; iterate it once.

    Parameters
    ----------
    gen : PairGenerator
    corpus : EncodedCorpus
    layout : {"rows", "flat"}
    batch_size : int
    epoch : int
        Which epoch's subsampling and negatives (every epoch draws afresh).
    skip : int
        Batches of the epoch already trained (a resumed run).
    multiple_of : int
        Cut each batch to a multiple of this many rows (the devices a batch is split
        over); at most ``multiple_of - 1`` rows of a batch are dropped, in practice only
        from an epoch's short last batch.
    prefetch : int
        Batches queued ahead.
    prepare : callable(targets, contexts) -> tuple, optional
        With the ``rows`` layout, what each batch's ``x`` becomes, computed in the
        feed's thread (the batch's unique rows, :func:`fastw2v.segments.sgns_segments`);
        by default ``(targets, contexts)``.
    pad : bool
        With the ``rows`` layout, pad a short batch (an epoch's last) to ``batch_size``
        rows with padding rows (:func:`fastw2v.segments.pad_rows`) before ``prepare``,
        so that a compiled step meets one batch shape; ``prepare`` must then mark
        them for the step (``sgns_segments(..., padding=True)``).

    Attributes
    ----------
    rows : int
        Rows handed to the consumer so far in the latest iteration (after the skipped
        batches), padding rows not counted: exact once the epoch has been read to its end.
    dropped_rows : int
        Rows cut by ``multiple_of``.
    """

    def __init__(self, gen: PairGenerator, corpus, layout: str, batch_size: int, epoch: int, skip: int = 0,
                 multiple_of: int = 1, prefetch: int = 4,
                 prepare: Optional[Callable[..., tuple]] = None, pad: bool = False) -> None:
        self.gen, self.corpus, self.layout = gen, corpus, layout
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.epoch = check_int("epoch", epoch, 0)
        self.skip = check_int("skip", skip, 0)
        self.multiple_of = check_int("multiple_of", multiple_of, 1)
        self.prefetch = check_int("prefetch", prefetch, 1)
        if (prepare is not None or pad) and layout != "rows":
            raise ValueError("prepare and pad apply to the rows layout only")
        self.prepare = prepare
        self.pad = bool(pad)
        self.rows = 0
        self.dropped_rows = 0

    def batches_left(self) -> int:
        """Batches this feed will yield: the epoch's, less the skipped ones (one counting pass)."""
        rows = self.gen.rows_in_epoch(self.corpus, self.epoch)
        full, last = divmod(rows, self.batch_size)
        per_full = 1 if self.batch_size >= self.multiple_of else 0
        n = full * per_full + (1 if last >= self.multiple_of else 0)
        return max(0, n - self.skip)

    def _batches(self) -> Iterator[tuple]:
        """``(item, rows)``: each batch as the consumer takes it, and its rows less any padding."""
        batches = self.gen.batches(self.corpus, self.batch_size, layout=self.layout, epochs=1,
                                   start_epoch=self.epoch)
        for i, batch in enumerate(batches):
            if i < self.skip:
                continue
            n = batch[0].shape[0]
            keep = n - n % self.multiple_of
            if keep < n:
                self.dropped_rows += n - keep
                if keep == 0:
                    continue
                batch = tuple(a[:keep] for a in batch)
                n = keep
            if self.layout == "rows":
                targets, contexts = batch[0], batch[1]
                if self.pad:
                    targets, contexts = pad_rows(targets, contexts, self.batch_size)
                yield ((targets, contexts) if self.prepare is None else self.prepare(targets, contexts),), n
            else:
                yield ((batch[0], batch[1]), batch[2]), n

    def __iter__(self) -> Iterator[tuple]:
        # a tf.distribute strategy's fit starts the iteration once, reads a few batches and
        # drops them, then starts it again to train: the counts are the last iteration's
        self.rows = 0
        self.dropped_rows = 0
        queued = background(self._batches(), self.prefetch)
        try:
            for item, n in queued:
                self.rows += n
                yield item
        finally:
            queued.close()
