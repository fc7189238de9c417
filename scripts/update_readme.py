"""Refresh README.md's benchmark tables from benchmarks/results/*.md.

Replaces the text between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``
with ``benchmarks/results/NAME.md`` and a link to ``NAME.png`` (unless the README
already shows that image outside the block).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def update(readme: Path = ROOT / "README.md") -> int:
    text = readme.read_text()
    changed = 0
    for name in re.findall(r"<!-- results:([\w-]+) -->", text):
        md = ROOT / "benchmarks" / "results" / f"{name}.md"
        if not md.exists():
            print(f"no results for {name} yet ({md}); run its benchmark", file=sys.stderr)
            continue
        body = md.read_text().strip()
        png = md.with_suffix(".png")
        pattern = re.compile(rf"(<!-- results:{name} -->\n).*?(<!-- /results:{name} -->)", re.S)
        outside = pattern.sub("", text)
        if png.exists() and f"benchmarks/results/{png.name}" not in outside:  # placed by hand elsewhere: kept there
            body += f"\n\n![{name}](benchmarks/results/{png.name})"
        text, n = pattern.subn(lambda m: m.group(1) + body + "\n" + m.group(2), text)
        changed += n
    readme.write_text(text)
    return changed


if __name__ == "__main__":
    print(f"updated {update()} table(s) in README.md")
