"""The quality-time frontier: word2vec.c, gensim and fastw2v, each as a whole process, in one run.

    python benchmarks/bench_frontier.py [--corpus PATH] [--epochs 1,2,3,5] [--threads 2] [--repeats 2]
                                        [--quick] [--rewrite]

Every system trains skip-gram with the shared settings (dim 100, window 5, negative 5,
sample 1e-3, min-count 5) on the same plain-text corpus, for each of ``--epochs``, as a
separate process whose wall time is measured whole (reading the text included; fastw2v
runs with ``--no-cache`` so it reads the text too). The vectors are scored with
``fastw2v.evaluate`` (analogies, WordSim-353). Systems, each at its own defaults:

* word2vec.c, compiled with its makefile's flags into a build folder outside the
  repository (``$FASTW2V_PEER_BUILD`` or the system's temp folder), skipped with a note
  where no compiler or source exists;
* gensim (``LineSentence`` over the same file);
* fastw2v Hogwild (its default: shared negatives, row-wise Adagrad), and with word2vec's
  SGD (``--optimizer sgd``);
* fastw2v Keras ``sgns`` (its defaults, on Keras' default backend).

Each point runs ``--repeats`` times (default 2), in alternating order of systems per epoch
count and per repeat, and a point is the median of its runs' wall times and, separately, of
their scores: this machine switches between fast and slow states for minutes at a time, so
one run of a point can take 1.5x another. Every run's figures are kept in the JSON. Equal-time
quality is each system's best analogy among its points that finished within gensim's time
for the largest epoch count. The default run (epochs 1, 2, 3 and 5, two repeats) takes about
35 minutes a repeat on 2 cores, so the whole suite fits one working session; more repeats or
epoch counts are flags. Writes benchmarks/results/frontier.{json,md,png}.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, default_corpus, plain_text, quality, write_results

PEER_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "peers" / "word2vec"
SETTINGS = {"dim": 100, "window": 5, "negative": 5, "sample": 1e-3, "min_count": 5}
SYSTEMS = ("word2vec.c", "gensim", "fastw2v hogwild", "fastw2v hogwild sgd", "fastw2v keras sgns")


def build_word2vec_c(build_dir: Path):
    """Compile word2vec.c as its makefile does; returns the binary, or (None, why)."""
    src = PEER_SOURCE / "word2vec.c"
    cc = shutil.which("gcc") or shutil.which("cc")
    if not src.exists():
        return None, f"no source at {src}"
    if cc is None:
        return None, "no C compiler (gcc or cc) on PATH"
    build_dir.mkdir(parents=True, exist_ok=True)
    binary = build_dir / "word2vec"
    cmd = [cc, str(src), "-o", str(binary), "-lm", "-pthread", "-O3", "-march=native", "-Wall", "-funroll-loops",
           "-Wno-unused-result"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"compiling word2vec.c failed: {r.stderr.strip()[-300:]}"
    return binary, " ".join(cmd)


def command(system: str, text: Path, out: Path, epochs: int, threads: int, binary) -> list:
    s = SETTINGS
    if system == "word2vec.c":
        return [str(binary), "-train", str(text), "-output", str(out), "-binary", "1", "-cbow", "0", "-hs", "0",
                "-size", str(s["dim"]), "-window", str(s["window"]), "-negative", str(s["negative"]),
                "-sample", str(s["sample"]), "-min-count", str(s["min_count"]), "-alpha", "0.025",
                "-threads", str(threads), "-iter", str(epochs)]
    if system == "gensim":
        code = ("import sys; from gensim.models import Word2Vec; from gensim.models.word2vec import LineSentence; "
                f"m = Word2Vec(LineSentence(sys.argv[1]), sg=1, vector_size={s['dim']}, window={s['window']}, "
                f"negative={s['negative']}, sample={s['sample']}, min_count={s['min_count']}, workers={threads}, "
                f"epochs={epochs}, seed=1); m.wv.save_word2vec_format(sys.argv[2], binary=True)")
        return [sys.executable, "-c", code, str(text), str(out)]
    train = [sys.executable, "-m", "fastw2v.train", "--corpus", str(text), "--no-cache", "--quiet", "--epochs",
             str(epochs), "--threads", str(threads), "--output", str(out), "--dim", str(s["dim"]), "--window",
             str(s["window"]), "--negative", str(s["negative"]), "--sample", str(s["sample"]), "--min-count",
             str(s["min_count"])]
    if system == "fastw2v hogwild":
        return train + ["--backend", "hogwild"]
    if system == "fastw2v hogwild sgd":
        return train + ["--backend", "hogwild", "--optimizer", "sgd"]
    return train + ["--backend", "keras"]  # fastw2v keras sgns


def run_point(system, text, work, epochs, threads, binary) -> dict:
    from fastw2v.vectors import Vectors

    out = work / f"{system.replace(' ', '_')}-{epochs}.bin"
    t0 = time.perf_counter()
    r = subprocess.run(command(system, text, out, epochs, threads, binary), capture_output=True, text=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    wall = time.perf_counter() - t0
    point = {"system": system, "epochs": epochs, "wall_seconds": wall, "exit_code": r.returncode}
    if r.returncode != 0:
        point["error"] = r.stderr.strip()[-500:]
    else:
        point.update(quality(Vectors.load(out)))
        out.unlink()
    print(f"{system}, {epochs} epoch(s): {wall:.0f} s, analogy {point.get('analogy_accuracy')}, "
          f"WordSim-353 {point.get('wordsim353_spearman')}", flush=True)
    return point


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="text corpus (default ../shared/data/wiki8.txt.xz)")
    ap.add_argument("--epochs", default="1,2,3,5", help="comma-separated epoch counts (default 1,2,3,5)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="a 2M-word slice, epochs 1,2, one repeat")
    ap.add_argument("--repeats", type=int, default=2,
                    help="runs per point, in alternating order; a point is their median (default 3)")
    ap.add_argument("--rewrite", action="store_true",
                    help="rewrite frontier.md and .png from frontier.json without training anything")
    args = ap.parse_args(argv)
    if args.rewrite:
        import json

        results = json.loads((RESULTS / "frontier.json").read_text())
        (RESULTS / "frontier.md").write_text(markdown(results).rstrip() + "\n")
        plot(results)
        return
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.quick:
        epochs, args.repeats = [1, 2], 1
    else:
        epochs = [int(x) for x in args.epochs.split(",")]
    path = Path(args.corpus) if args.corpus else default_corpus()
    work = Path(tempfile.mkdtemp(prefix="fastw2v-frontier-"))
    build = Path(os.environ.get("FASTW2V_PEER_BUILD", Path(tempfile.gettempdir()) / "fastw2v-peers"))
    binary, build_note = build_word2vec_c(build)
    systems = [s for s in SYSTEMS if s != "word2vec.c" or binary is not None]
    if binary is None:
        print(f"word2vec.c skipped: {build_note}", flush=True)
    try:
        text = plain_text(path, work, 2_000_000 if args.quick else 0)
        runs = []
        for r in range(args.repeats):
            for i, e in enumerate(epochs):
                for system in (systems if (i + r) % 2 == 0 else systems[::-1]):
                    runs.append(run_point(system, text, work, e, args.threads, binary))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    points = median_points(runs)
    results = {"corpus": str(path), "quick": args.quick, "threads": args.threads, "settings": SETTINGS,
               "systems": systems, "repeats": args.repeats,
               "epochs": epochs, "word2vec_c_build": build_note, "points": points}
    results["equal_time"] = equal_time(points, max(epochs))
    write_results("frontier", results, markdown(results))
    plot(results)


SCORES = ("analogy_accuracy", "analogy_questions", "wordsim353_spearman", "wordsim353_coverage")


def median_points(runs: list) -> list:
    """One point per (system, epochs): the median wall time and the median of each score over
    its runs that finished, with every run under ``runs``; a point none of whose runs
    finished keeps the last run's error."""
    points = []
    for key in dict.fromkeys((r["system"], r["epochs"]) for r in runs):
        mine = [r for r in runs if (r["system"], r["epochs"]) == key]
        done = [r for r in mine if r["exit_code"] == 0 and "analogy_accuracy" in r]
        point = {"system": key[0], "epochs": key[1], "runs": mine, "runs_finished": len(done)}
        if done:
            point["wall_seconds"] = statistics.median(r["wall_seconds"] for r in done)
            point["exit_code"] = 0
            for name in SCORES:
                if all(name in r for r in done):
                    point[name] = statistics.median(r[name] for r in done)
        else:
            point.update(wall_seconds=mine[-1]["wall_seconds"], exit_code=mine[-1]["exit_code"],
                         error=mine[-1].get("error", "no score"))
        points.append(point)
    return points


def equal_time(points, epochs: int) -> dict:
    """Each system's best analogy among its points within gensim's time for ``epochs`` epochs."""
    ref = [p for p in points if p["system"] == "gensim" and p["epochs"] == epochs and "analogy_accuracy" in p]
    if not ref:
        return {}
    budget = ref[0]["wall_seconds"]
    out = {"budget_seconds": budget, "systems": {}}
    for system in dict.fromkeys(p["system"] for p in points):
        within = [p for p in points if p["system"] == system and p["wall_seconds"] <= budget and
                  "analogy_accuracy" in p]
        best = max(within, key=lambda p: p["analogy_accuracy"], default=None)
        out["systems"][system] = None if best is None else {
            "epochs": best["epochs"], "wall_seconds": best["wall_seconds"],
            "analogy_accuracy": best["analogy_accuracy"], "wordsim353_spearman": best.get("wordsim353_spearman")}
    return out


def summary(results: dict) -> str:
    """One line: fastw2v Hogwild's wall time and quality at the largest epoch count against each peer's."""
    e = max(results["epochs"])
    at = {p["system"]: p for p in results["points"] if p["epochs"] == e and "analogy_accuracy" in p}
    system = "fastw2v hogwild" if "fastw2v hogwild" in at else "fastw2v hogwild sgd"
    ours = at.get(system)
    if ours is None:
        return ""
    label = "fastw2v Hogwild" if system == "fastw2v hogwild" else "fastw2v Hogwild (SGD)"
    peers = [f"{name}'s {at[name]['wall_seconds']:.0f} s ({at[name]['wall_seconds'] / ours['wall_seconds']:.1f}x "
             f"longer, analogy {100 * at[name]['analogy_accuracy']:.1f}%)" for name in ("gensim", "word2vec.c")
             if name in at]
    return (f"At {e} epochs, {label} took {ours['wall_seconds']:.0f} s for analogy "
            f"{100 * ours['analogy_accuracy']:.1f}%, against " + " and ".join(peers) + ".")


def keras_at_gensim(results: dict, system: str = "fastw2v keras sgns") -> list:
    """Per gensim point (by epochs): ``(gensim's point, system's best point within its wall time or
    None)``, the best being the highest analogy among the points that finished by then; [] if
    either system has no scored point."""
    gensim = sorted((p for p in results["points"] if p["system"] == "gensim" and "analogy_accuracy" in p),
                    key=lambda p: p["epochs"])
    ours = [p for p in results["points"] if p["system"] == system and "analogy_accuracy" in p]
    if not gensim or not ours:
        return []
    return [(g, max((p for p in ours if p["wall_seconds"] <= g["wall_seconds"]),
                    key=lambda p: p["analogy_accuracy"], default=None)) for g in gensim]


def keras_summary(results: dict, system: str = "fastw2v keras sgns") -> str:
    """One line: what the Keras default reaches within each of gensim's wall times, against gensim."""
    pairs = keras_at_gensim(results, system)
    if not pairs:
        return ""
    reached = ", ".join("nothing" if best is None else f"{100 * best['analogy_accuracy']:.1f}%" for _, best in pairs)
    ahead = sum(best is not None and best["analogy_accuracy"] > g["analogy_accuracy"] for g, best in pairs)
    epochs = ", ".join(str(g["epochs"]) for g, _ in pairs)
    times = ", ".join(f"{g['wall_seconds']:.0f}" for g, _ in pairs)
    theirs = ", ".join(f"{100 * g['analogy_accuracy']:.1f}%" for g, _ in pairs)
    return (f"Within gensim's {epochs}-epoch wall times ({times} s), the Keras default (`sgns`) reached "
            f"{reached} analogy, against gensim's {theirs}: ahead at {ahead} of {len(pairs)}.")


def keras_at_gensim_times(results: dict, system: str = "fastw2v keras sgns") -> list:
    """:func:`keras_at_gensim` as markdown table lines."""
    pairs = keras_at_gensim(results, system)
    if not pairs:
        return []
    md = [f"| gensim's wall time | gensim reaches | {system} reaches in that time | WordSim-353, gensim / ours |",
          "|---|---:|---:|---:|"]
    for g, best in pairs:
        reach = "nothing finished" if best is None else (f"{100 * best['analogy_accuracy']:.1f}% "
                                                          f"({best['epochs']} epoch(s), {best['wall_seconds']:.0f} s)")
        ws = "n/a" if best is None else f"{g['wordsim353_spearman']:.3f} / {best['wordsim353_spearman']:.3f}"
        md.append(f"| {g['wall_seconds']:.0f} s ({g['epochs']} epoch(s)) | {100 * g['analogy_accuracy']:.1f}% | "
                  f"{reach} | {ws} |")
    return md


def hogwild_rules(results: dict, new: str = "fastw2v hogwild", old: str = "fastw2v hogwild sgd") -> list:
    """Hogwild's two update rules against each other, as markdown lines: the best point of each within
    gensim's largest-epoch time, and the time the new rule takes to reach the old one's quality at
    the largest epoch count, as a fraction of the old's."""
    pts = {(p["system"], p["epochs"]): p for p in results["points"] if "analogy_accuracy" in p}
    epochs = [e for e in results["epochs"] if (new, e) in pts and (old, e) in pts]
    if not epochs:
        return []
    md = []
    eq = (results.get("equal_time") or {}).get("systems", {})
    if eq.get(new) and eq.get(old):
        md.append(f"Hogwild's update rules within gensim's {max(results['epochs'])}-epoch time: Adagrad's best point "
                  f"{100 * eq[new]['analogy_accuracy']:.1f}% ({eq[new]['epochs']} epochs), SGD's "
                  f"{100 * eq[old]['analogy_accuracy']:.1f}% ({eq[old]['epochs']} epochs).")
    top = pts[(old, epochs[-1])]
    reach = [pts[(new, e)] for e in epochs if pts[(new, e)]["analogy_accuracy"] >= top["analogy_accuracy"]]
    if reach:
        first = min(reach, key=lambda p: p["wall_seconds"])
        md.append(f"Adagrad reaches SGD's {epochs[-1]}-epoch analogy ({100 * top['analogy_accuracy']:.1f}%, "
                  f"{top['wall_seconds']:.0f} s) in {first['epochs']} epoch(s), {first['wall_seconds']:.0f} s: "
                  f"**{first['wall_seconds'] / top['wall_seconds']:.2f}x** the time.")
    else:
        md.append(f"Adagrad does not reach SGD's {epochs[-1]}-epoch analogy ({100 * top['analogy_accuracy']:.1f}%) "
                  "at any epoch count run.")
    return md


def run_spread(points: list) -> float:
    """The largest spread of a point's finished runs' wall times, as a fraction of its median (0 if none)."""
    spreads = []
    for p in points:
        walls = [r["wall_seconds"] for r in p.get("runs", []) if r["exit_code"] == 0]
        if len(walls) > 1:
            spreads.append((max(walls) - min(walls)) / statistics.median(walls))
    return max(spreads, default=0.0)


def markdown(results: dict) -> str:
    epochs = results["epochs"]
    repeats = results.get("repeats", 1)
    pts = {(p["system"], p["epochs"]): p for p in results["points"]}
    ran = list(dict.fromkeys(p["system"] for p in results["points"]))
    systems = [s for s in SYSTEMS if s in ran] + [s for s in ran if s not in SYSTEMS]  # an older file's too
    md = [f"| system ({results['threads']} threads): wall s (whole process), analogy, WordSim-353 | "
          + " | ".join(f"{e} epoch{'s' if e > 1 else ''}" for e in epochs) + " |",
          "|---|" + "---:|" * len(epochs)]
    for system in systems:
        cells = []
        for e in epochs:
            p = pts.get((system, e))
            if p is None:
                cells.append("")
            elif "analogy_accuracy" not in p:
                cells.append(f"failed ({p['wall_seconds']:.0f} s)")
            else:
                ws = f"{p['wordsim353_spearman']:.3f}" if "wordsim353_spearman" in p else "n/a"
                cells.append(f"{p['wall_seconds']:.0f} s, {100 * p['analogy_accuracy']:.1f}%, {ws}")
        md.append(f"| {system} | " + " | ".join(cells) + " |")
    if repeats > 1:
        md += ["", f"Each cell is the median of {repeats} runs in alternating order, wall time and scores separately; "
               f"single runs of a point spread by up to {100 * run_spread(results['points']):.0f}% of its median "
               "wall time (every run is in frontier.json)."]
    eq = results.get("equal_time") or {}
    if eq:
        md += ["", f"Equal time: what each system reaches within gensim's {max(epochs)}-epoch time "
               f"({eq['budget_seconds']:.0f} s).", "", "| system | best point within that time | analogy | WordSim-353 |",
               "|---|---:|---:|---:|"]
        for system, best in eq["systems"].items():
            if best is None:
                md.append(f"| {system} | none finished in time | n/a | n/a |")
            else:
                md.append(f"| {system} | {best['epochs']} epoch(s), {best['wall_seconds']:.0f} s | "
                          f"{100 * best['analogy_accuracy']:.1f}% | {best['wordsim353_spearman']:.3f} |")
    at_gensim = keras_at_gensim_times(results)
    if at_gensim:
        md += ["", "The Keras default at gensim's times:", ""] + at_gensim
    rules = hogwild_rules(results)
    if rules:
        md += [""] + rules
    if "word2vec.c" not in ran:
        md += ["", f"word2vec.c was skipped: {results['word2vec_c_build']}."]
    # the first paragraph, which README.md's summary quotes: Hogwild against the peers, then the
    # Keras default within gensim's times
    head = " ".join(x for x in (summary(results), keras_summary(results)) if x)
    return "\n".join(([head, ""] if head else []) + md)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for system in SYSTEMS:
        pts = sorted((p for p in results["points"] if p["system"] == system and "analogy_accuracy" in p),
                     key=lambda p: p["epochs"])
        if not pts:
            continue
        ax.plot([p["wall_seconds"] for p in pts], [100 * p["analogy_accuracy"] for p in pts], "o-", label=system)
        for p in pts:
            ax.annotate(str(p["epochs"]), (p["wall_seconds"], 100 * p["analogy_accuracy"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("whole-process wall time, s (log); labels: epochs")
    ax.set_ylabel("analogy accuracy (%)")
    ax.set_title(f"Quality against time, {results['threads']} threads, same run", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "frontier.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
