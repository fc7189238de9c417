"""Command line: ``python -m fastw2v.train``.

Trains skip-gram embeddings with the Keras backend (the default; needs the ``tf``
extra) or the pure-Numba Hogwild backend, writes the vectors, and optionally a JSON
report and an evaluation. Run with ``--help`` for every flag.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .config import Word2VecConfig
from .constants import KERAS_BATCH_SIZE

_DEFAULTS = Word2VecConfig()


class UsageError(Exception):
    """Bad flags or inputs: reported on one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="python -m fastw2v.train",
        description="Train word2vec skip-gram embeddings with negative sampling (SGNS).",
        epilog="Example: python -m fastw2v.train --corpus text8 --backend hogwild --epochs 5 --output vectors.bin",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = ap.add_argument_group("corpus")
    g.add_argument("--corpus", default="text8",
                   help="a text file (plain, .gz, .bz2, .xz; one sentence per line, or text8-style one line), "
                        "or 'text8' to download the canonical text8 once into the cache directory")
    g.add_argument("--cache-dir", default=None,
                   help="where the encoded corpus and downloads are cached (default $FASTW2V_CACHE or ~/.cache/fastw2v)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the encoded-corpus cache")
    g.add_argument("--prune-at", type=int, default=None,
                   help="bound the distinct words held while counting a huge corpus: past this many, rare words "
                        "are pruned (as gensim's max_vocab_size); counts near min-count become approximate")
    g = ap.add_argument_group("model")
    g.add_argument("--backend", choices=["keras", "hogwild"], default="keras",
                   help="keras: TensorFlow model fed by the Numba pair generator; hogwild: pure-Numba lock-free SGD")
    g.add_argument("--model", choices=["sgns", "tutorial"], default="sgns",
                   help="keras backend only: sgns (input/output embeddings, k negatives per positive) or tutorial "
                        "(the Keras tutorial's shared Embedding + dot + sigmoid Dense, rmsprop)")
    g.add_argument("--dim", type=int, default=_DEFAULTS.dim, help="embedding dimension")
    g.add_argument("--window", type=int, default=_DEFAULTS.window, help="maximum skip-gram window")
    g.add_argument("--negative", type=int, default=None,
                   help="negative samples per positive pair (default 5; tutorial model: 1, as the tutorial)")
    g.add_argument("--sample", type=float, default=_DEFAULTS.sample, help="subsampling threshold (0 disables)")
    g.add_argument("--min-count", type=int, default=_DEFAULTS.min_count, help="ignore words rarer than this")
    g.add_argument("--max-vocab", type=int, default=None, help="keep at most this many words (most frequent)")
    g.add_argument("--alpha", type=float, default=None,
                   help="learning rate (default 0.025, decaying linearly to alpha*1e-4 over all words; "
                        "tutorial model: rmsprop rate, default 0.001)")
    g.add_argument("--epochs", type=int, default=_DEFAULTS.epochs, help="passes over the corpus")
    g.add_argument("--batch-size", type=int, default=None,
                   help="keras backend: rows per step (default 4096 for sgns, 65536 pairs for tutorial; "
                        "chosen by measurement)")
    g.add_argument("--threads", type=int, default=None, help="worker threads (default: all cores)")
    g.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="random seed")
    g.add_argument("--exact-sigmoid", action="store_true",
                   help="hogwild: exact sigmoid instead of word2vec.c's 1000-bin table")
    g.add_argument("--strategy", choices=["default", "mirrored"], default="default",
                   help="keras backend: tf.distribute strategy (mirrored: all visible devices)")
    g = ap.add_argument_group("output and state")
    g.add_argument("--output", default=None, help="write vectors here: word2vec binary if it ends in .bin, else text")
    g.add_argument("--report", default=None, help="write a JSON summary of the run here")
    g.add_argument("--checkpoint-dir", default=None, help="write checkpoints here during training")
    g.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    g.add_argument("--tensorboard", default=None,
                   help="keras backend: log the loss and write embedding-projector files (vectors/metadata TSV) here")
    g = ap.add_argument_group("monitoring and evaluation")
    g.add_argument("--validate", default="eight,france,king,computer,war,music",
                   help="comma list of words whose nearest neighbours are shown during and after training")
    g.add_argument("--validate-every", type=int, default=2000, help="keras backend: steps between neighbour reports")
    g.add_argument("--eval-analogies", default=None, help="evaluate on a questions-words.txt-format file at the end")
    g.add_argument("--eval-pairs", nargs="+", default=[], help="evaluate on word-pair files (w1 w2 score) at the end")
    g.add_argument("--quiet", action="store_true", help="no progress bars or neighbour reports")
    return ap


#: model-dependent defaults: the tutorial uses 1 negative per positive and rmsprop's rate
TUTORIAL_DEFAULTS = {"negative": 1, "alpha": 0.001}


def config_from_args(args) -> Word2VecConfig:
    tutorial = args.backend == "keras" and args.model == "tutorial"
    negative = args.negative if args.negative is not None else (
        TUTORIAL_DEFAULTS["negative"] if tutorial else _DEFAULTS.negative)
    alpha = args.alpha if args.alpha is not None else (TUTORIAL_DEFAULTS["alpha"] if tutorial else _DEFAULTS.alpha)
    batch = args.batch_size if args.batch_size is not None else KERAS_BATCH_SIZE[args.model]
    try:
        return Word2VecConfig(dim=args.dim, window=args.window, negative=negative, sample=args.sample,
                              min_count=args.min_count, max_vocab=args.max_vocab, alpha=alpha,
                              epochs=args.epochs, threads=args.threads, seed=args.seed, batch_size=batch,
                              exact_sigmoid=args.exact_sigmoid)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"bad flag: {exc}") from None


def _check_writable(path, what: str) -> None:
    if path is None:
        return
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise UsageError(f"{what} {p} is a directory; give a file name")
    if not parent.is_dir():
        raise UsageError(f"{what} directory does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{what} directory is not writable: {parent}")


def check_args(args) -> None:
    _check_writable(args.output, "--output")
    _check_writable(args.report, "--report")
    for f in [args.eval_analogies, *args.eval_pairs]:
        if f and not Path(f).is_file():
            raise UsageError(f"evaluation file not found: {f}")
    if args.prune_at is not None and args.prune_at < 1:
        raise UsageError(f"--prune-at must be >= 1, got {args.prune_at}")
    if args.resume and not args.checkpoint_dir:
        raise UsageError("--resume needs --checkpoint-dir")
    if args.checkpoint_dir:
        d = Path(args.checkpoint_dir)
        if d.exists() and not d.is_dir():
            raise UsageError(f"--checkpoint-dir {d} is not a directory")
    if args.backend == "hogwild" and (args.model != "sgns" or args.strategy != "default" or args.tensorboard):
        raise UsageError("--model tutorial, --strategy and --tensorboard are for --backend keras")


def resolve_corpus(args):
    if args.corpus == "text8" and not Path("text8").exists():
        from .datasets import fetch_text8

        return fetch_text8(args.cache_dir, quiet=args.quiet)
    p = Path(args.corpus)
    if not p.exists():
        raise UsageError(f"corpus file not found: {p}")
    if p.is_dir():
        raise UsageError(f"corpus path is a directory, not a file: {p}")
    return p


def run(args) -> dict:
    """Train as the flags say; return the report dict."""
    cfg = config_from_args(args)
    check_args(args)
    from . import load_corpus
    from .progress import factory

    corpus_path = resolve_corpus(args)
    t0 = time.perf_counter()
    vocab, corpus = load_corpus(corpus_path, cfg.min_count, cfg.max_vocab, cache_dir=args.cache_dir,
                                use_cache=not args.no_cache, progress_factory=factory(args.quiet),
                                prune_at=args.prune_at)
    prep_seconds = time.perf_counter() - t0
    from .model import check_memory

    check_memory(len(vocab), cfg.dim)
    validate = [w for w in args.validate.split(",") if w] if args.validate else []
    if args.backend == "hogwild":
        from .hogwild_train import train_hogwild

        result = train_hogwild(cfg, vocab, corpus, args, validate)
    else:
        try:
            from .keras_train import train_keras
        except ImportError as exc:
            raise UsageError(f"the keras backend needs TensorFlow ({exc}); install the 'tf' extra "
                             "(pip install 'fastw2v[tf]') or use --backend hogwild") from None
        result = train_keras(cfg, vocab, corpus, args, validate)
    vectors = result.pop("vectors")
    report = {
        "backend": args.backend,
        "model": args.model if args.backend == "keras" else "sgns",
        "corpus": str(corpus_path),
        "corpus_words": int(corpus.raw_words),
        "encoded_words": int(corpus.n_words),
        "vocab_size": len(vocab),
        "epochs": cfg.epochs,
        "config": cfg.to_dict(),
        "prep_seconds": prep_seconds,
        **result,
    }
    if validate:
        known = [w for w in validate if w in vectors]
        if known:
            report["neighbours"] = vectors.most_similar_batch(known, topn=8)
            if not args.quiet:
                for w, near in report["neighbours"].items():
                    print(f"Nearest to {w}: {', '.join(near)}", file=sys.stderr)
    if args.output:
        vectors.save(args.output)
        report["output"] = str(args.output)
    if args.eval_analogies or args.eval_pairs:
        from .evaluate import _format_table, evaluate

        report["evaluation"] = evaluate(vectors, args.eval_analogies, args.eval_pairs)
        if not args.quiet:
            print(_format_table(report["evaluation"]), file=sys.stderr)
    if args.report:
        from .atomic import atomic_open

        with atomic_open(args.report, "w") as fh:
            json.dump(report, fh, indent=1, default=float)
    return report


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        report = run(args)
    except UsageError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    except (FileNotFoundError, ValueError, MemoryError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    except OSError as exc:
        from .datasets import DownloadError

        if isinstance(exc, DownloadError):
            parser.exit(2, f"{parser.prog}: error: {exc}\n")
        raise
    except KeyboardInterrupt:
        parser.exit(130, f"{parser.prog}: interrupted\n")
    except Exception as exc:  # training errors (divergence, interruption) are reported, not dumped
        from .model import TrainingDiverged, TrainingInterrupted

        if isinstance(exc, (TrainingDiverged, TrainingInterrupted)):
            parser.exit(3 if isinstance(exc, TrainingDiverged) else 130, f"{parser.prog}: {exc}\n")
        raise
    if not args.quiet:
        secs = report.get("train_seconds", 0.0)
        print(f"trained {report['corpus_words']:,} words x {report['epochs']} epochs in {secs:.1f}s "
              f"({report.get('words_per_sec', 0) / 1e3:.0f}k words/s)"
              + (f"; vectors in {report['output']}" if report.get("output") else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
