"""The README's Python example names only things that exist, and both READMEs' results blocks
hold what ``scripts/update_readme.py`` fills them with from ``benchmarks/results``."""

import importlib.util
import re
import sys
from pathlib import Path

import fastw2v

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BENCHMARKS = ROOT / "benchmarks" / "README.md"
sys.path.insert(0, str(ROOT / "scripts"))
import update_readme  # noqa: E402


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


def test_both_readmes_results_blocks_are_filled_from_the_results(tmp_path):
    """Each block holds what update_readme writes from benchmarks/results; each results file is shown."""
    shown = set()
    for path in (README, BENCHMARKS):
        copy = tmp_path / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(path.read_text())
        update_readme.update(copy)
        assert copy.read_text() == path.read_text(), f"{path.name}: run scripts/update_readme.py"
        names = re.findall(r"<!-- results:([\w-]+) -->", path.read_text())
        assert names, path
        shown |= set(names) | {n for name in names for n in update_readme.COMPOSED.get(name, ())}
    results = {p.stem for p in (ROOT / "benchmarks" / "results").glob("*.md")}
    assert results <= shown, f"results no README shows: {sorted(results - shown)}"
    assert "benchmarks/README.md" in README.read_text()  # the summary points to the detail


def test_every_results_file_keeps_its_provenance():
    """Machine (with the versions), commit, command and date: in the file, or in each round merged into it."""
    import json

    files = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text())
        entries = data["rounds"] if "machine" not in data and "rounds" in data else [data]
        for entry in entries:
            missing = {"machine", "commit", "command", "date"} - set(entry)
            assert not missing, f"{path.name} lacks {sorted(missing)}"
            assert {"python", "numpy", "numba"} <= set(entry["machine"]), path.name
