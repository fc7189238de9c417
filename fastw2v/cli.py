"""What every command line of fastw2v shares: how ``--help`` states defaults.

argparse's ``ArgumentDefaultsHelpFormatter`` appends "(default: ...)" to every flag,
also where the help already gives the real default in words, and "(default: None)"
where the default is worked out later. :class:`HelpFormatter` appends it only where
the help says nothing of a default and there is a value to show.
"""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """States each flag's default once: the help's own words, or "(default: X)"."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        if "default" in text.lower() or not action.option_strings or \
                action.default is None or action.default is False or action.default in (argparse.SUPPRESS, []):
            return text
        return f"{text} (default: %(default)s)"
