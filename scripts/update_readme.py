"""Refresh the benchmark tables of README.md and benchmarks/README.md from benchmarks/results/*.md.

Replaces the text between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``
with ``benchmarks/results/NAME.md`` and a link to ``NAME.png`` (unless the file
already shows that image outside the block), the link relative to the file. A
block named in :data:`COMPOSED` holds the first paragraph of each results file it
lists instead: the README's one summary of where fastw2v stands.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: the files whose blocks this script fills
FILES = (ROOT / "README.md", ROOT / "benchmarks" / "README.md")
#: composed blocks: the first paragraph of each results file, in order
COMPOSED = {"standing": ("frontier", "frontier_keras", "pairs", "train_speed")}


def first_paragraph(name: str) -> str:
    return (RESULTS / f"{name}.md").read_text().strip().split("\n\n")[0]


def block_body(name: str, text: str, pattern, prefix: str):
    """What block ``name`` holds now, or None when its results are missing."""
    if name in COMPOSED:
        missing = [n for n in COMPOSED[name] if not (RESULTS / f"{n}.md").exists()]
        return None if missing else "\n\n".join(first_paragraph(n) for n in COMPOSED[name])
    md = RESULTS / f"{name}.md"
    if not md.exists():
        return None
    body = md.read_text().strip()
    png = md.with_suffix(".png")
    link = f"{prefix}{png.name}"
    if png.exists() and link not in pattern.sub("", text):  # placed by hand elsewhere: kept there
        body += f"\n\n![{name}]({link})"
    return body


def update(path: Path) -> int:
    text = path.read_text()
    prefix = "results/" if path.parent.name == "benchmarks" else "benchmarks/results/"
    changed = 0
    for name in re.findall(r"<!-- results:([\w-]+) -->", text):
        pattern = re.compile(rf"(<!-- results:{name} -->\n).*?(<!-- /results:{name} -->)", re.S)
        body = block_body(name, text, pattern, prefix)
        if body is None:
            print(f"no results for {name} yet in {RESULTS}; run its benchmark", file=sys.stderr)
            continue
        text, n = pattern.subn(lambda m: m.group(1) + body + "\n" + m.group(2), text)
        changed += n
    path.write_text(text)
    return changed


if __name__ == "__main__":
    for path in FILES:
        print(f"updated {update(path)} table(s) in {path.relative_to(ROOT)}")
