"""Wall time of ``bayes-scaling predict`` with the default intervals: the discrepancy cache off and on.

A user fits once and then asks several questions of the same artifact (other budgets, points, levels,
``--json``). Each ``predict`` is a fresh process, and learning the default intervals' width factor and
stacked centre refits both forms on the internal cuts, which in a fresh process is mostly JAX tracing.
This times, in fresh processes alternating between the two settings, the same command on a bootstrap
artifact of the embedded example (or of Epoch's 240 points with ``--data epoch``):

* ``BAYES_SCALING_CACHE=compile``: XLA's compilation cache warm, the discrepancy learned every time
  (what every call cost before the discrepancy cache);
* ``BAYES_SCALING_CACHE=on``: both caches warm (one untimed call first), the discrepancy read back;
* the baseline revision (``--baseline``, default c5ed3ff: before the discrepancy cache and before
  ``predict`` read artifacts without ArviZ), its compilation cache warm: what a user ran before. A
  later baseline runs with its own default settings (one that has the discrepancy cache reads it back, warm).

All print the same report (checked: the JSON of every timed call equals the first one's).

Usage: python benchmarks/bench_predict_cache.py [--runs 5] [--data example|epoch] [--baseline c5ed3ff]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from _common import HERE, SHARED, extract_revision, table, timed_python, write_json

MODES = ("baseline", "compile", "on")


def _cli(args, env, cwd=None) -> tuple[float, str]:
    return timed_python(["-m", "bayes_scaling", *args], env, cwd=cwd, what=args)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--data", choices=("example", "epoch"), default="example")
    ap.add_argument("--baseline", default="c5ed3ff")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(HERE.parent), "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        base_tree = extract_revision(args.baseline, Path(tmp) / "baseline")
        envs = {"baseline": {**env, "PYTHONPATH": str(base_tree), "XDG_CACHE_HOME": str(Path(tmp) / "base_cache")},
                "compile": {**env, "BAYES_SCALING_CACHE": "compile"}, "on": {**env, "BAYES_SCALING_CACHE": "on"}}
        artifact = str(Path(tmp) / "boot.nc")
        source = (["--example"] if args.data == "example" else
                  [str(SHARED / "epoch_chinchilla" / "svg_extracted_data.csv"), "--drop-top-loss", "5"])
        _cli(["fit", *source, "--method", "bootstrap", "--out", artifact], {**env, "BAYES_SCALING_CACHE": "on"})
        query = ["predict", artifact, "--compute", "5.76e23", "1e24", "--at", "7e10,1.4e12", "--json"]
        _, first = _cli(query, envs["on"])  # warms both caches
        _cli(query, envs["baseline"], cwd=str(base_tree))  # warms the baseline's compilation cache
        reference = json.loads(first)
        walls = {m: [] for m in MODES}
        for _ in range(args.runs):
            for mode in MODES:
                wall, out = _cli(query, envs[mode], cwd=str(base_tree) if mode == "baseline" else None)
                if json.loads(out) != reference:
                    raise AssertionError(f"{mode}: the report differs from the first call's")
                walls[mode].append(wall)
        entries = len(list((Path(tmp) / "cache" / "bayes_scaling" / "discrepancy").glob("*.json")))
    med = {m: float(np.median(walls[m])) for m in MODES}
    # c5ed3ff learned every time and read artifacts with ArviZ; a later baseline runs with its own defaults
    what = "learned, ArviZ" if args.baseline == "c5ed3ff" else "its defaults"
    print(table([[f"baseline {args.baseline} ({what})", f"{med['baseline']:.2f}",
                  " ".join(f"{w:.2f}" for w in walls["baseline"])],
                 ["discrepancy learned (BAYES_SCALING_CACHE=compile)", f"{med['compile']:.2f}",
                  " ".join(f"{w:.2f}" for w in walls["compile"])],
                 ["discrepancy read back (BAYES_SCALING_CACHE=on)", f"{med['on']:.2f}",
                  " ".join(f"{w:.2f}" for w in walls["on"])]],
                ["predict (bootstrap artifact, " + args.data + ")", "median wall [s]", "each run [s]"]))
    ratio = med["compile"] / med["on"]
    vs_base = med["baseline"] / med["on"]
    print(f"\nlearned / cached wall time: {ratio:.2f}x; baseline / cached: {vs_base:.2f}x (medians of {args.runs}; "
          f"{entries} cache entry; every report identical)")
    path = write_json(f"predict_cache_{args.data}", {"runs": args.runs, "data": args.data, "wall_s": walls,
                                                     "median_s": med, "ratio": ratio, "baseline": args.baseline,
                                                     "baseline_ratio": vs_base, "cache_entries": entries})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
