"""Refresh the benchmark tables of README.md and benchmarks/README.md from benchmarks/results/*.md.

    python scripts/update_readme.py [--check]

Replaces the text between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``
with ``benchmarks/results/NAME.md`` and a link to ``NAME.png`` (unless the file
already shows that image outside the block), the link relative to the file. A
block named in :data:`COMPOSED` holds the first paragraph of each results file it
lists instead: the README's one summary of where fastw2v stands. A block whose
results file is missing is an error, unless it is :data:`PENDING` (then it keeps
its text). ``--check`` writes nothing and exits with 1 if a README would change.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: the files whose blocks this script fills
FILES = (ROOT / "README.md", ROOT / "benchmarks" / "README.md")
#: composed blocks: the first paragraph of each results file, in order
COMPOSED = {"standing": ("frontier", "pairs", "train")}
#: blocks whose results need a machine the benchmarks do not always have (bash scripts/gpu_bench.sh
#: on a GPU): until their files exist, the block keeps the text written by hand
PENDING = {"gpu"}


class MissingResults(Exception):
    """A results block names a results file that does not exist."""


def first_paragraph(name: str) -> str:
    return (RESULTS / f"{name}.md").read_text().strip().split("\n\n")[0]


def block_parts(name: str) -> tuple:
    """The results files block ``name`` shows."""
    return COMPOSED.get(name, (name,))


def block_body(name: str, text: str, pattern, prefix: str):
    """What block ``name`` holds now, or None when it is pending and its results are missing."""
    missing = [n for n in block_parts(name) if not (RESULTS / f"{n}.md").exists()]
    if missing:
        if name in PENDING:
            return None
        raise MissingResults(f"results block {name!r} shows {', '.join(f'results/{n}.md' for n in missing)}, "
                             "which does not exist: run its benchmark (scripts/run_benchmarks.sh)")
    if name in COMPOSED:
        return "\n\n".join(first_paragraph(n) for n in COMPOSED[name])
    md = RESULTS / f"{name}.md"
    body = md.read_text().strip()
    png = md.with_suffix(".png")
    link = f"{prefix}{png.name}"
    if png.exists() and link not in pattern.sub("", text):  # placed by hand elsewhere: kept there
        body += f"\n\n![{name}]({link})"
    return body


def blocks(text: str) -> list:
    """The names of ``text``'s results blocks, in order."""
    return re.findall(r"<!-- results:([\w-]+) -->", text)


def render(path: Path) -> str:
    """``path``'s text with each results block filled from benchmarks/results."""
    text = path.read_text()
    prefix = "results/" if path.parent.name == "benchmarks" else "benchmarks/results/"
    for name in blocks(text):
        pattern = re.compile(rf"(<!-- results:{name} -->\n).*?(<!-- /results:{name} -->)", re.S)
        body = block_body(name, text, pattern, prefix)
        if body is None:
            print(f"no results for {name} yet in {RESULTS}; its block keeps its text", file=sys.stderr)
            continue
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


def update(path: Path) -> bool:
    """Fill ``path``'s results blocks; True if its text changed."""
    old, new = path.read_text(), render(path)
    if new != old:
        path.write_text(new)
    return new != old


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="write nothing; exit with 1 if a README would change")
    args = ap.parse_args(argv)
    stale = []
    for path in FILES:
        try:
            new = render(path)
        except MissingResults as exc:
            print(f"{path.relative_to(ROOT)}: {exc}", file=sys.stderr)
            return 1
        if new == path.read_text():
            print(f"{path.relative_to(ROOT)}: up to date")
        elif args.check:
            stale.append(path)
            print(f"{path.relative_to(ROOT)}: its tables differ from benchmarks/results; run scripts/update_readme.py")
        else:
            path.write_text(new)
            print(f"{path.relative_to(ROOT)}: updated")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
