"""Startup of the point-fit command before and after the law-protocol refactor (issue 9, item 5).

Times, in fresh processes alternating between the baseline revision and this checkout:

* ``import bayes_scaling.cli`` (what every command pays first), and which heavy packages it loads;
* the whole command ``bayes-scaling fit --example --method point --json`` (run as
  ``python -c 'from bayes_scaling.cli import main; main([...])'`` against each source tree), with
  the CLI's persistent compilation cache warm for both (one untimed run each first).

The refactor stopped the point fit from importing numpyro (and the scipy it brings), ArviZ and
matplotlib; the difference is what a user waits for less.

Usage: python benchmarks/bench_startup.py [--baseline 31e190e] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from _common import HERE, extract_revision, table, timed_python, write_json

HEAVY = ("numpyro", "arviz", "matplotlib", "scipy")
IMPORT = ("import sys, time, json; t = time.perf_counter(); import bayes_scaling.cli; "
          "dt = time.perf_counter() - t; print(json.dumps({'import_s': dt, 'heavy': sorted(m for m in "
          f"{HEAVY!r} if m in sys.modules)}}))")
FIT = ("import sys; from bayes_scaling.cli import main; "
       "sys.exit(main(['fit', '--example', '--method', 'point', '--json']))")


def _run(src: Path, code: str) -> tuple[float, str]:
    return timed_python(["-c", code], {**os.environ, "PYTHONPATH": str(src)}, cwd=src, what=src)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="31e190e")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    res = {"baseline": {"import_s": [], "fit_wall_s": [], "heavy": None},
           "current": {"import_s": [], "fit_wall_s": [], "heavy": None}}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"baseline": extract_revision(args.baseline, Path(tmp) / "baseline"), "current": HERE.parent}
        for src in trees.values():
            _run(src, FIT)  # warm the persistent compilation cache
        for _ in range(args.runs):
            for name, src in trees.items():
                _, out = _run(src, IMPORT)
                rec = json.loads(out.strip().splitlines()[-1])
                res[name]["import_s"].append(rec["import_s"])
                res[name]["heavy"] = rec["heavy"]
                wall, _ = _run(src, FIT)
                res[name]["fit_wall_s"].append(wall)
    rows = []
    for name in ("baseline", "current"):
        r = res[name]
        rows.append([name, f"{np.median(r['import_s']):.2f}", f"{np.median(r['fit_wall_s']):.2f}",
                     ", ".join(r["heavy"]) or "-"])
    print(table(rows, ["tree", "import bayes_scaling.cli [s]", "fit --example --method point [s]",
                       "heavy packages loaded by the import"]))
    ratio = np.median(res["current"]["fit_wall_s"]) / np.median(res["baseline"]["fit_wall_s"])
    print(f"\ncurrent / baseline wall time of the point-fit command: {ratio:.2f} (medians of {args.runs})")
    path = write_json("startup", {"baseline_revision": args.baseline, "runs": args.runs, "results": res,
                                  "fit_wall_ratio": float(ratio)})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
