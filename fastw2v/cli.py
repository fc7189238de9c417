"""What every command line of fastw2v shares: its name, its exit statuses, how ``--help`` states defaults.

The exit statuses are the command line's contract with the shell; :func:`exit_code`
maps the way a run ended to one of them. The run (:mod:`fastw2v.runner`) and the
multi-worker watch (:mod:`fastw2v.multiworker.peers`) name them too, so they live here, below
both, with the refusals that name the command line's flags.

argparse's ``ArgumentDefaultsHelpFormatter`` appends "(default: ...)" to every flag,
also where the help already gives the real default in words, and "(default: None)"
where the default is worked out later. :class:`HelpFormatter` appends it only where
the help says nothing of a default and there is a value to show.
"""

from __future__ import annotations

import argparse
from typing import Optional

from .errors import Fastw2vError, PeerLost, TrainingDiverged, TrainingInterrupted

#: the training command line's name, at the start of its messages
PROG = "python -m fastw2v.train"
#: the refusal of Keras-only options with the Hogwild backend
KERAS_ONLY_OPTIONS = ("--model tutorial, --strategy, --batch-size, --negative-group, --steps-per-execution and "
                      "--tensorboard are for --backend keras")
HOGWILD_ONLY_OPTIONS = "--exact-sigmoid and --[no-]shared-negatives are for --backend hogwild"

#: exit statuses of the command lines
EXIT_OK = 0
EXIT_BUG = 1
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
#: a multi-worker group lost a worker, or could not meet one
EXIT_PEER_LOST = 4
EXIT_INTERRUPTED = 130


def exit_code(exc: Optional[BaseException]) -> int:
    """The exit status for a run that ended with ``exc`` (None: success).

    fastw2v's own errors are bad input (2), divergence (3), a multi-worker group that
    lost a peer or could not meet one (4) or an interruption (130); anything else is a
    bug (1).
    """
    if exc is None:
        return EXIT_OK
    if isinstance(exc, TrainingDiverged):
        return EXIT_DIVERGED
    if isinstance(exc, PeerLost):
        return EXIT_PEER_LOST
    if isinstance(exc, (TrainingInterrupted, KeyboardInterrupt)):
        return EXIT_INTERRUPTED
    if isinstance(exc, Fastw2vError):
        return EXIT_BAD_INPUT
    return EXIT_BUG


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """States each flag's default once: the help's own words, or "(default: X)"."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        if "default" in text.lower() or not action.option_strings or \
                action.default is None or action.default is False or action.default in (argparse.SUPPRESS, []):
            return text
        return f"{text} (default: %(default)s)"
