"""The README's Python example names only things that exist; both READMEs' results blocks hold
what ``scripts/update_readme.py`` fills them with from ``benchmarks/results``; and every file
there comes from a command of the current tree that ``scripts/run_benchmarks.sh`` (or, for the
GPU run, ``scripts/gpu_bench.sh``) documents."""

import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path

import fastw2v

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BENCHMARKS = ROOT / "benchmarks" / "README.md"
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "scripts"))
import update_readme  # noqa: E402

#: Kept results whose files were made before the command that now makes them, each with why;
#: the reason names the commit the file was made at. Rerunning scripts/run_benchmarks.sh changes
#: that commit, and the provenance test then asks for the entry to be removed: the list only shrinks.
AWAITING_RERUN = {
    "frontier": "made at a863274 with six systems at that day's defaults (Hogwild's SGD, the Keras step before "
                "unique rows), epochs 1,2,3,5, one run a point; the command now runs five systems at today's "
                "defaults, epochs 1,2,3,5, 2 runs a point",
}


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
    """Each block holds what update_readme writes from benchmarks/results; a block whose results
    file is missing (and not pending) makes update_readme raise."""
    for path in (README, BENCHMARKS):
        copy = tmp_path / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(path.read_text())
        update_readme.update(copy)
        assert copy.read_text() == path.read_text(), f"{path.name}: run scripts/update_readme.py"
        assert update_readme.blocks(path.read_text()), path
    assert "benchmarks/README.md" in README.read_text()  # the summary points to the detail


def test_every_results_image_a_readme_shows_exists():
    for path in (README, BENCHMARKS):
        for link in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", path.read_text()):
            if "results/" in link:
                assert (path.parent / link).is_file(), f"{path.name} shows {link}, which does not exist"


def documented_commands() -> set:
    """The commands behind benchmarks/results, as words: each ``run ARGS`` line of
    scripts/run_benchmarks.sh (``python ARGS``), and bench_gpu.py as scripts/gpu_bench.sh runs it."""
    commands = set()
    for line in (ROOT / "scripts" / "run_benchmarks.sh").read_text().splitlines():
        m = re.match(r"\s*run\s+([^#]+)", line)
        if m:
            commands.add(("python", *shlex.split(m.group(1))))
    gpu = re.search(r"\bpython3?\s+(benchmarks/bench_gpu\.py)\b", (ROOT / "scripts" / "gpu_bench.sh").read_text())
    assert gpu, "scripts/gpu_bench.sh no longer runs benchmarks/bench_gpu.py"
    commands.add(("python", gpu.group(1)))
    return commands


def as_documented(command: str) -> tuple:
    """A results file's command as words; for bench_gpu.py without ``--corpus`` and ``--out``, the
    paths gpu_bench.sh passes on the machine it runs on."""
    words = shlex.split(command)
    if words[1:2] != ["benchmarks/bench_gpu.py"]:
        return tuple(words)
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in ("--corpus", "--out"):
            skip = True
        elif not word.startswith(("--corpus=", "--out=")):
            kept.append(word)
    return tuple(kept)


def test_every_results_file_comes_from_a_documented_command():
    """Each results JSON keeps its provenance (machine with the versions, commit, command, date), and its
    command is one scripts/run_benchmarks.sh or scripts/gpu_bench.sh documents, with no ``--before``
    (comparisons with another commit are scripts/ab_compare.py's, which writes nothing here), unless
    the stem is in AWAITING_RERUN. Every other file belongs to such a JSON, or is the README's example
    map, which scripts/example_map.sh draws."""
    documented = documented_commands()
    assert not any("--before" in c for c in documented)
    files = sorted(RESULTS.glob("*.json"))
    assert files
    stems = {p.stem for p in files}
    assert set(AWAITING_RERUN) <= stems, f"AWAITING_RERUN names stems with no results: {set(AWAITING_RERUN) - stems}"
    for path in files:
        data = json.loads(path.read_text())
        missing = {"machine", "commit", "command", "date"} - set(data)
        assert not missing, f"{path.name} lacks {sorted(missing)}"
        assert {"python", "numpy", "numba"} <= set(data["machine"]), path.name
        if path.stem in AWAITING_RERUN:
            assert data["commit"] in AWAITING_RERUN[path.stem], (
                f"{path.name} was rerun (at {data['commit']}): remove {path.stem!r} from AWAITING_RERUN")
            continue
        assert "--before" not in data["command"], f"{path.name}: {data['command']}"
        assert as_documented(data["command"]) in documented, (
            f"{path.name} was made by `{data['command']}`, which scripts/run_benchmarks.sh does not run")
    assert "bash scripts/example_map.sh" in (ROOT / "scripts" / "run_benchmarks.sh").read_text()
    assert "benchmarks/results/example_map.png" in (ROOT / "scripts" / "example_map.sh").read_text()
    for path in RESULTS.iterdir():
        if path.is_file():
            assert path.name == "example_map.png" or (path.suffix in (".json", ".md", ".png") and path.stem in stems), (
                f"benchmarks/results/{path.name} comes from no documented command")


def test_the_benchmarks_stay_a_suite():
    """At most 8 scripts in benchmarks/, 30 files in benchmarks/results/ (quick/, ignored, aside) and
    400 lines in benchmarks/README.md: studies whose conclusions are in the code keep a paragraph,
    not a script or a results file."""
    scripts = [p for p in (ROOT / "benchmarks").iterdir() if p.suffix in (".py", ".sh")]
    assert len(scripts) <= 8, sorted(p.name for p in scripts)
    assert sum(p.is_file() for p in RESULTS.iterdir()) <= 30
    assert len(BENCHMARKS.read_text().splitlines()) <= 400
