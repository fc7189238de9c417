"""Command line: ``python -m fastw2v.train``.

Trains skip-gram embeddings with the Keras backend (the default; needs the ``tf``
extra) or the pure-Numba Hogwild backend, writes the vectors, and optionally a JSON
report and an evaluation. Run with ``--help`` for every flag.

This module only parses flags into the typed options of :mod:`fastw2v.config` and
:mod:`fastw2v.runner` (:func:`options_from_args`) and calls :func:`fastw2v.runner.run`.
fastw2v's own errors print one line and exit 2 (3 for divergence, 4 when a
multi-worker group lost a worker or could not meet one, 130 for an interruption);
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Optional, Tuple

from .cli import HelpFormatter
from .config import (DECAY_START_DEFAULTS, KERAS_MODEL_DEFAULTS, KERAS_MODELS, KERAS_OPTIMIZER_DEFAULTS,
                     KERAS_STRATEGIES, OPTIMIZERS, RATE_DEFAULTS, SGD_MAX_BATCH, KerasOptions, Word2VecConfig)
from .constants import CHECKPOINT_EVERY_SECONDS, DEFAULT_PEER_TIMEOUT
from .errors import ArgumentError, ArgumentTypeError, Fastw2vError, UsageError
from .cli import EXIT_BAD_INPUT, EXIT_BUG, HOGWILD_ONLY_OPTIONS, KERAS_ONLY_OPTIONS, PROG, exit_code
from .runner import BACKENDS, CorpusOptions, RunOptions, run

_DEFAULTS = Word2VecConfig()


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog=PROG,
        description="Train word2vec skip-gram embeddings with negative sampling (SGNS).",
        epilog="Example: python -m fastw2v.train --corpus text8 --backend hogwild --epochs 5 --output vectors.bin. "
               "Exit status: 0 done, 2 bad input, 3 training diverged, 4 a multiworker group lost a worker (or "
               "could not meet one; resume with --resume), 130 interrupted (resume with --resume), 1 a bug.",
        formatter_class=HelpFormatter,
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
    g.add_argument("--backend", choices=BACKENDS, default="keras",
                   help="keras: TensorFlow model fed by the Numba pair generator; hogwild: pure-Numba lock-free SGD")
    g.add_argument("--model", choices=KERAS_MODELS, default="sgns",
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
                   help="the optimizer's initial rate. adagrad (row-wise): default "
                        f"{RATE_DEFAULTS[('hogwild', 'adagrad')]['learning_rate']} for hogwild, "
                        f"{RATE_DEFAULTS[('sgns', 'adagrad')]['learning_rate']} for keras sgns, decaying to "
                        "--final-rate of itself; sgd: word2vec's rate, default "
                        f"{_DEFAULTS.alpha}, decaying linearly to 1e-4 of itself over all words; keras tutorial: "
                        f"RMSprop's constant rate, default {RATE_DEFAULTS[('tutorial', 'rmsprop')]['learning_rate']}")
    g.add_argument("--epochs", type=int, default=_DEFAULTS.epochs, help="passes over the corpus")
    g.add_argument("--batch-size", type=int, default=None,
                   help=f"keras backend: rows per step, per worker (default {KERAS_MODEL_DEFAULTS['sgns']['batch_size']}"
                        f" for sgns, {KERAS_OPTIMIZER_DEFAULTS[('sgns', 'sgd')]['batch_size']} with --optimizer sgd, "
                        f"which diverges past {SGD_MAX_BATCH}; {KERAS_MODEL_DEFAULTS['tutorial']['batch_size']} pairs "
                        "for tutorial)")
    g.add_argument("--optimizer", choices=OPTIMIZERS["hogwild"], default=None,
                   help="adagrad: row-wise Adagrad, one accumulator per embedding row (the default for hogwild and "
                        "keras sgns); sgd: word2vec's SGD with its linear decay (keras sgns sums it over the batch), "
                        "for comparison with word2vec.c and gensim. The keras tutorial model trains with RMSprop")
    g.add_argument("--negative-group", type=int, default=None, metavar="ROWS",
                   help="keras sgns: consecutive rows of a batch that share one draw of negatives (default "
                        f"{KERAS_MODEL_DEFAULTS['sgns']['negative_group']}; 1 gives every row its own, as word2vec.c). "
                        "Sharing gathers far fewer output rows per step")
    g.add_argument("--final-rate", type=float, default=None, metavar="FRACTION",
                   help="adagrad: the rate decays linearly to this fraction of --alpha by the last word, from "
                        "--decay-start on (default "
                        f"{RATE_DEFAULTS[('hogwild', 'adagrad')]['final_rate']:g} for hogwild, "
                        f"{RATE_DEFAULTS[('sgns', 'adagrad')]['final_rate']:g} for keras sgns; 1 is a constant rate)")
    g.add_argument("--decay-start", type=float, default=None, metavar="FRACTION",
                   help="keras sgns: the share of all words trained at --alpha before the rate starts its linear "
                        f"decay to --final-rate (default {DECAY_START_DEFAULTS[('sgns', 'adagrad')]:g} with adagrad, "
                        f"{DECAY_START_DEFAULTS[('sgns', 'sgd')]:g} with sgd; 0 decays from the first word, as "
                        "hogwild always does)")
    g.add_argument("--threads", type=int, default=None, help="worker threads (default: all cores)")
    g.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="random seed")
    g.add_argument("--exact-sigmoid", action="store_true",
                   help="hogwild: exact sigmoid instead of word2vec.c's 1000-bin table")
    g.add_argument("--shared-negatives", action=argparse.BooleanOptionalAction, default=None,
                   help="hogwild: draw each centre word's negatives once for its whole window and train the window "
                        "as one small matrix product (default: "
                        f"{'on' if _DEFAULTS.shared_negatives else 'off'}); --no-shared-negatives draws them per "
                        "pair, as word2vec.c")
    g.add_argument("--strategy", choices=KERAS_STRATEGIES, default="default",
                   help="keras backend: how to spread the step. default (the default): one device; mirrored: "
                        "every local device, as tf.distribute's MirroredStrategy or JAX's DataParallel; multiworker: "
                        "one process per machine, cluster from TF_CONFIG, tensorflow only, see the README. The Keras "
                        "backend itself is chosen by the KERAS_BACKEND environment variable: tensorflow (the "
                        "default) or jax")
    g.add_argument("--peer-timeout", type=float, default=None, metavar="SECONDS",
                   help=f"multiworker: a worker silent this long counts as lost and the whole group stops, with "
                        f"exit status 4 (default {DEFAULT_PEER_TIMEOUT:g}); a worker whose process ends is noticed "
                        "at once. Also the bound on meeting the peers at start-up")
    g.add_argument("--peer-port", type=int, default=None, metavar="PORT",
                   help="multiworker: the port the chief watches its peers on (default: its TF_CONFIG port + 1)")
    g.add_argument("--steps-per-execution", type=int, default=1, metavar="STEPS",
                   help="keras backend: training steps per call from Python; more keep a GPU busy while Python "
                        "reports progress (1 suits a CPU)")
    g = ap.add_argument_group("output and state")
    g.add_argument("--output", default=None, help="write vectors here: word2vec binary if it ends in .bin, else text")
    g.add_argument("--report", default=None, help="write a JSON summary of the run here")
    g.add_argument("--checkpoint-dir", default=None, help="write checkpoints here during training")
    g.add_argument("--checkpoint-every", type=float, default=CHECKPOINT_EVERY_SECONDS, metavar="SECONDS",
                   help="with --checkpoint-dir, also write a checkpoint this often (besides every epoch end)")
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
    g.add_argument("--verbose", action="store_true",
                   help="keras backend: also show TensorFlow's, XLA's and CUDA's own start-up log lines, hidden "
                        "unless you set TF_CPP_MIN_LOG_LEVEL yourself (their other warnings and errors show)")
    return ap


def options_from_args(args: argparse.Namespace) -> Tuple[str, CorpusOptions, Word2VecConfig, Optional[KerasOptions],
                                                          RunOptions]:
    """The typed options the flags ask for: ``(backend, corpus, config, keras, run)``.

    ``keras`` is None for the Hogwild backend. Per-model defaults (the tutorial's
    ``--negative`` and RMSprop rate, each model's batch size) are resolved by
    :mod:`fastw2v.config`, not here.
    """
    keras_backend = args.backend == "keras"
    if not keras_backend and (args.model != "sgns" or args.strategy != "default" or args.tensorboard
                              or args.steps_per_execution != 1 or args.batch_size is not None
                              or args.negative_group is not None):
        raise UsageError(KERAS_ONLY_OPTIONS)
    if (args.peer_timeout is not None or args.peer_port is not None) and args.strategy != "multiworker":
        raise UsageError("--peer-timeout and --peer-port are for --strategy multiworker")
    if keras_backend and (args.exact_sigmoid or args.shared_negatives is not None):
        raise UsageError(HOGWILD_ONLY_OPTIONS)
    tutorial = keras_backend and args.model == "tutorial"
    if tutorial and (args.optimizer is not None or args.final_rate is not None):
        raise UsageError("--optimizer and --final-rate are for --model sgns and hogwild; the tutorial model trains "
                         "with RMSprop at a constant rate")
    trainer = args.model if keras_backend else "hogwild"
    # --alpha is the optimizer's own rate, except that sgd steps by word2vec's alpha
    sgd = (args.optimizer or OPTIMIZERS[trainer][0]) == "sgd"
    try:
        config = Word2VecConfig.for_model(
            args.model if keras_backend else "sgns", dim=args.dim, window=args.window, negative=args.negative,
            sample=args.sample, min_count=args.min_count, max_vocab=args.max_vocab,
            alpha=args.alpha if sgd else None, epochs=args.epochs, threads=args.threads, seed=args.seed,
            exact_sigmoid=args.exact_sigmoid, shared_negatives=args.shared_negatives, optimizer=args.optimizer,
            learning_rate=None if sgd else args.alpha, final_rate=args.final_rate,
            decay_start=args.decay_start).for_trainer(trainer)
        keras = KerasOptions(model=args.model, strategy=args.strategy, batch_size=args.batch_size,
                             negative_group=args.negative_group,
                             steps_per_execution=args.steps_per_execution,
                             peer_timeout=DEFAULT_PEER_TIMEOUT if args.peer_timeout is None else args.peer_timeout,
                             peer_port=args.peer_port).resolved(config.optimizer) \
            if keras_backend else None
        corpus = CorpusOptions(path=args.corpus, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                               prune_at=args.prune_at)
        run_options = RunOptions(
            output=args.output, report=args.report, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
            checkpoint_every=args.checkpoint_every,
            validate=tuple(w for w in args.validate.split(",") if w) if args.validate else (),
            validate_every=args.validate_every, tensorboard=args.tensorboard, eval_analogies=args.eval_analogies,
            eval_pairs=tuple(args.eval_pairs), quiet=args.quiet, verbose=args.verbose)
    except (ArgumentError, ArgumentTypeError) as exc:
        raise UsageError(f"bad flag: {exc}") from None
    return args.backend, corpus, config, keras, run_options


def main(argv=None) -> int:
    """Run the command line; returns the exit status (see :func:`fastw2v.cli.exit_code`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        backend, corpus, config, keras, run_options = options_from_args(args)
        report = run(corpus, backend, config, run_options, keras)
    except KeyboardInterrupt:
        parser.exit(exit_code(KeyboardInterrupt()), f"{parser.prog}: interrupted\n")
    except Fastw2vError as exc:
        code = exit_code(exc)
        parser.exit(code, f"{parser.prog}: {'error: ' if code == EXIT_BAD_INPUT else ''}{exc}\n")
    except Exception:
        traceback.print_exc()
        print(f"{parser.prog}: internal error: this is a bug in fastw2v, not a problem with your input; "
              "please report it with the traceback above", file=sys.stderr)
        return EXIT_BUG
    if not args.quiet:
        secs = report.get("train_seconds", 0.0)
        print(f"trained {report['corpus_words']:,} words x {report['epochs']} epochs in {secs:.1f}s "
              f"({report.get('words_per_sec', 0) / 1e3:.0f}k words/s)"
              + (f"; vectors in {report['output']}" if report.get("output") else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
