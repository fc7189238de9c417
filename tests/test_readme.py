"""The README's Python API example names only things that exist."""

import importlib.util
import re
from pathlib import Path

import fastw2v

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_api_names_exist():
    blocks = _python_blocks()
    assert blocks, "the README has no python example"
    names = set()
    for block in blocks:
        code = "\n".join(line.split("#", 1)[0] for line in block.splitlines())
        names |= set(re.findall(r"\bfastw2v\.(\w+(?:\.\w+)*)", code))
    assert {"Word2Vec", "Vectors"} <= {n.split(".")[0] for n in names}
    for dotted in sorted(names):
        parts = dotted.split(".")
        obj, i = fastw2v, 0
        while i < len(parts) and hasattr(obj, parts[i]):
            obj, i = getattr(obj, parts[i]), i + 1
        if i < len(parts):  # a submodule, e.g. fastw2v.keras_trainer (imported, not an attribute)
            module = importlib.util.find_spec("fastw2v." + ".".join(parts[: i + 1]))
            assert module is not None, f"README uses fastw2v.{dotted}, which does not exist"
