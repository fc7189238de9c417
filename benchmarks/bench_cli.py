"""The command line at its Keras defaults, as a new user runs it: N runs in a row, one results file.

    python benchmarks/bench_cli.py [--corpus PATH] [--epochs 2] [--runs 3] [--quick] [--rewrite]

Each run is ``python -m fastw2v.train --corpus CORPUS --epochs E --quiet --report FILE``
with the evaluation files, everything else at its default, in a process of its own. The
median of the reports' ``pairs_per_sec`` and every report go to results/keras_cli.json
(with the provenance of every results file) and a one-line summary to keras_cli.md.
There is no peer in this run: it measures what the README's default command gives.
``--quick`` takes a 1M-word slice and 1 epoch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import RESULTS, default_corpus, eval_flags, fmt_rate, report_scores, slice_text, write_results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a 1M-word slice, 1 epoch")
    ap.add_argument("--rewrite", action="store_true", help="only rewrite keras_cli.md from keras_cli.json")
    args = ap.parse_args(argv)
    if args.rewrite:
        (RESULTS / "keras_cli.md").write_text(summary(json.loads((RESULTS / "keras_cli.json").read_text())) + "\n")
        return
    corpus = Path(args.corpus or default_corpus())
    tmp = Path(tempfile.mkdtemp(prefix="fastw2v-cli-"))
    epochs = 1 if args.quick else args.epochs
    if args.quick:
        from fastw2v import load_corpus

        vocab, encoded = load_corpus(corpus, min_count=5)
        corpus = tmp / "slice.txt"
        slice_text(encoded, vocab, 1_000_000, corpus)
    runs = []
    for i in range(args.runs):
        report = tmp / f"run{i}.json"
        subprocess.run([sys.executable, "-m", "fastw2v.train", "--corpus", str(corpus), "--epochs", str(epochs),
                        "--quiet", "--report", str(report), *eval_flags()], check=True)
        runs.append(json.loads(report.read_text()))
        print(f"run {i}: {fmt_rate(runs[-1]['pairs_per_sec'])} pairs/s, {runs[-1]['train_seconds']:.0f} s", flush=True)
    rates = [r["pairs_per_sec"] for r in runs]
    results = {"corpus": str(corpus), "epochs": epochs, "median_pairs_per_sec": float(np.median(rates)),
               "pairs_per_sec": rates, "runs": runs}
    write_results("keras_cli", results, summary(results))


def summary(results: dict) -> str:
    """The results file's one paragraph."""
    runs, rates = results["runs"], results["pairs_per_sec"]
    seconds = [r["train_seconds"] for r in runs]
    scores = {f"{100 * a:.1f}% analogy and {s:.3f} WordSim-353" for a, s in map(report_scores, runs)
              if a is not None and s is not None}
    quality = (f", with {scores.pop()} each time" if len(scores) == 1 else
               f", with {'; '.join(sorted(scores))}" if scores else "")
    return (f"The default run from the command line, `python -m fastw2v.train --corpus "
            f"{Path(results['corpus']).name} --epochs {results['epochs']} --report run.json` (everything else at "
            f"its default), reported a median of {fmt_rate(results['median_pairs_per_sec'])} pairs/s in "
            f"`pairs_per_sec` over {len(runs)} runs ({', '.join(fmt_rate(r) for r in sorted(rates))}; "
            f"{min(seconds):.0f} to {max(seconds):.0f} s of training){quality}.")


if __name__ == "__main__":
    main()
