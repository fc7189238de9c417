"""Helpers shared by the benchmark scripts: data lookup, timing, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: Where the scripts write: benchmarks/results/, or $FASTW2V_RESULTS (``run_benchmarks.sh --quick``
#: sets benchmarks/results/quick/, which git ignores, so that a check never overwrites the figures).
RESULTS = Path(os.environ.get("FASTW2V_RESULTS") or ROOT / "benchmarks" / "results")
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def default_corpus(name: str = "wiki8.txt.xz") -> Path:
    env = os.environ.get("FASTW2V_WIKI8") if name == "wiki8.txt.xz" else None
    path = Path(env) if env else SHARED_DATA / name
    if not path.exists():
        sys.exit(f"corpus not found: {path}; pass --corpus PATH (any text file, e.g. text8)")
    return path


def eval_files():
    d = Path(os.environ.get("FASTW2V_EVAL_DIR", SHARED_DATA / "eval"))
    q, w = d / "questions-words.txt", d / "wordsim353.tsv"
    return (q if q.exists() else None), (w if w.exists() else None)


def eval_flags() -> list:
    """``python -m fastw2v.train``'s flags that evaluate on the files :func:`eval_files` finds."""
    q, w = eval_files()
    return (["--eval-analogies", str(q)] if q else []) + (["--eval-pairs", str(w)] if w else [])


def report_scores(report: dict):
    """``(analogy accuracy, WordSim-353 Spearman)`` of a ``--report`` file's evaluation (None where not run)."""
    ev = report.get("evaluation", {})
    return ev.get("analogies", {}).get("accuracy"), (ev.get("pairs") or [{}])[0].get("spearman")


def slice_text(corpus, vocab, words: int, path: Path):
    """Write ``corpus``'s first ``words`` words as text, one sentence per line; returns that slice."""
    head = corpus.head(words)
    with open(path, "w") as fh:
        starts = head.sentence_starts
        for s in range(len(starts) - 1):
            fh.write(" ".join(vocab.words[i] for i in head.ids[starts[s]:starts[s + 1]]) + "\n")
    return head


def plain_text(path: Path, work: Path, words: int = 0) -> Path:
    """The corpus as one plain-text file, one sentence per line (word2vec.c reads no compression),
    cut to ``words`` if given."""
    from fastw2v import iter_sentences

    out = work / "corpus.txt"
    n = 0
    with open(out, "w") as fh:
        for sentence in iter_sentences(str(path)):
            if words and n + len(sentence) > words:
                sentence = sentence[:words - n]
            fh.write(" ".join(sentence) + "\n")
            n += len(sentence)
            if words and n >= words:
                break
    return out


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["mem_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    from importlib import metadata

    info["cpu_count"] = info["cpus"]
    info["keras_backend"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    for dist in ("numpy", "numba", "tensorflow", "keras", "jax", "jaxlib", "gensim", "tf_keras"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = None
    return info


def timed(fn, repeats: int):
    """Run fn() `repeats` times; return (median seconds, all seconds, last result)."""
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def quality(vectors) -> dict:
    """Analogy accuracy and WordSim-353 Spearman on the shared evaluation files, where present."""
    from fastw2v.evaluate import evaluate_analogies, evaluate_word_pairs

    q, w = eval_files()
    out = {}
    if q:
        r = evaluate_analogies(vectors, q)
        out["analogy_accuracy"] = r["accuracy"]
        out["analogy_questions"] = r["total"]
    if w:
        r = evaluate_word_pairs(vectors, w)
        out["wordsim353_spearman"] = r["spearman"]
        out["wordsim353_coverage"] = r["coverage"]
    return out


def train_hogwild(cfg, corpus, vocab):
    """Fit fastw2v Hogwild, after an untimed short fit that compiles the kernels; returns (model, seconds)."""
    from fastw2v import Word2Vec

    n = min(20000, corpus.n_words)
    Word2Vec(cfg.replace(epochs=1)).fit((corpus.ids[:n], [0, n]), vocab=vocab)
    t0 = time.perf_counter()
    model = Word2Vec(cfg).fit(corpus, vocab=vocab)
    return model, time.perf_counter() - t0


def generator_rows_epoch(vocab, corpus, threads: int) -> int:
    """One epoch of ``PairGenerator`` rows (window 5, 5 negatives, sample 1e-3, batches of
    65,536 rows) over ``corpus``; returns the pairs made (contexts, positive and negative)."""
    from fastw2v import PairGenerator

    gen = PairGenerator(vocab, window=5, negative=5, sample=1e-3, seed=1, threads=threads)
    n = 0
    for _, contexts in gen.batches(corpus, 1 << 16):
        n += contexts.size
    return n


def git_commit():
    """The checked-out commit (with ``+dirty`` for local changes), or None outside git."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


START_COMMIT = git_commit()


def command_line() -> str:
    """The command that is running, as it could be typed again from the repository root."""
    import shlex

    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return " ".join(["python", shlex.quote(str(script))] + [shlex.quote(a) for a in sys.argv[1:]])


def fma_peak_gflops(threads: int, seconds: float = 1.0) -> float:
    """This CPU's float32 multiply-add peak over ``threads`` threads, in GFLOP/s.

    Each thread runs independent chains ``a = a * x + y`` over 256 floats held in
    registers (16 AVX-512 or 32 AVX2 vectors, enough to hide the FMA latency), for
    about ``seconds``; the best of three rounds counts 2 FLOP per multiply-add.
    """
    from concurrent.futures import ThreadPoolExecutor

    from numba import njit

    @njit(nogil=True, fastmath=True)
    def chains(reps):
        acc = np.zeros(256, np.float32)
        x = np.float32(0.999999)
        y = np.float32(1e-6)
        for _ in range(reps):
            for j in range(256):
                acc[j] = acc[j] * x + y
        return acc.sum()

    chains(10)
    reps = 1000
    while True:
        t0 = time.perf_counter()
        chains(reps)
        if time.perf_counter() - t0 > seconds / 10:
            break
        reps *= 4
    reps = int(reps * seconds / 10 / max(time.perf_counter() - t0, 1e-9))
    best = 0.0
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(3):
            t0 = time.perf_counter()
            list(pool.map(chains, [reps] * threads))
            best = max(best, 2 * 256 * reps * threads / (time.perf_counter() - t0) / 1e9)
    return best


def write_results(name: str, payload: dict, markdown: str) -> None:
    """Write ``name``.json (with provenance) and ``name``.md. ``commit`` is the tree the run
    started from; if the tree changed while it ran, ``commit_at_end`` says to what."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    end = git_commit()
    extra = {} if end == START_COMMIT else {"commit_at_end": end}
    payload = dict(payload, machine=machine(), date=time.strftime("%Y-%m-%d %H:%M:%S"), commit=START_COMMIT,
                   **extra, command=command_line())
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n")
    print(markdown)
    print(f"wrote {RESULTS / name}.json, .md, .png")


def bar_chart(name: str, labels, values, ylabel: str, title: str, log: bool = True, annotate=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    bars = ax.bar(range(len(values)), values, color=["#999999"] + ["#2a7ab0"] * (len(values) - 1))
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels, rotation=15, ha="right", fontsize=9)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(top=max(values) * 8)
    else:
        ax.set_ylim(0, max(values) * 1.2)  # room for the labels
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    for bar, text in zip(bars, annotate or [f"{v:.3g}" for v in values]):
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)
    plt.close(fig)


def fmt_rate(x: float) -> str:
    """12.3M, 456k or 41.5: a rate for tables."""
    if x >= 1e6:
        return f"{x / 1e6:.3g}M"
    if x >= 1e3:
        return f"{x / 1e3:.3g}k"
    return f"{x:.3g}"
