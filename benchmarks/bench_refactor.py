"""The law-protocol refactor against the commit before it, in one run (issue 9, item 3).

Each variant (the baseline commit, extracted with ``git archive``, and this checkout) runs the same
three user-level calls on Epoch's 240 points in its own fresh process, alternating
baseline/current ``--rounds`` times so that load on the shared machine hits both alike:

* point fit: ``bs.fit(data)`` (Hoffmann's 4,500 starts): first call (compilation included) and the
  median of 5 further calls;
* bootstrap: ``bootstrap(key, data, 4000)`` (rows scheme): first call and a second call;
* NUTS: ``bs.nuts.sample(key, data)`` (4 x (1000 + 1000), Student-t): first call and a second call.

The public calls are the same before and after the refactor, so one worker script serves both.
Acceptance: the current figures within 15% of the baseline's (ratio current / baseline <= 1.15).

Usage: python benchmarks/bench_refactor.py [--baseline 31e190e] [--rounds 2] [--skip nuts]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import HERE, extract_revision, table, write_json

ROOT = HERE.parent

WORKER = r'''
import json, sys, time, warnings
import numpy as np
sys.path.insert(0, sys.argv[1])
warnings.simplefilter("ignore")
import jax
import bayes_scaling as bs
assert bs.__file__.startswith(sys.argv[1]), bs.__file__
from bayes_scaling.bootstrap import bootstrap
skip = set(sys.argv[3].split(",")) if len(sys.argv) > 3 else set()
ds = bs.from_csv(sys.argv[2], label="Epoch 240")
ds = ds.subset(ds.loss < np.sort(ds.loss)[-5])
out = {}
def clock(fn):
    t0 = time.perf_counter(); r = jax.block_until_ready(fn()); return time.perf_counter() - t0, r
t, r = clock(lambda: bs.fit(ds))
runs = [clock(lambda: bs.fit(ds))[0] for _ in range(5)]
out["point"] = {"first_s": t, "run_s": float(np.median(runs)), "objective": float(r.objective),
                "law": [float(x) for x in r.law]}
if "bootstrap" not in skip:
    t, r = clock(lambda: bootstrap(jax.random.key(0), ds, 4000, warn=False))
    t2, r = clock(lambda: bootstrap(jax.random.key(0), ds, 4000, warn=False))
    out["bootstrap"] = {"first_s": t, "run_s": t2, "n_failed": int(r.n_failed),
                        "sd": [float(np.std(np.asarray(x), ddof=1)) for x in r.law]}
if "nuts" not in skip:
    t, r = clock(lambda: bs.nuts.sample(jax.random.key(0), ds, warn=False))
    t2, r = clock(lambda: bs.nuts.sample(jax.random.key(0), ds, warn=False))
    d = r.diagnostics
    out["nuts"] = {"first_s": t, "run_s": t2, "max_rhat": d["max_rhat"], "min_ess_bulk": d["min_ess_bulk"],
                   "divergences": d["divergences"], "median": [float(np.median(np.asarray(x))) for x in r.law]}
print(json.dumps(out))
'''


def run_variant(src: Path, csv: Path, skip: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run([sys.executable, "-c", WORKER, str(src), str(csv), skip], capture_output=True,
                          text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed for {src}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="31e190e", help="git revision before the refactor")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma-separated: bootstrap,nuts")
    args = ap.parse_args()
    csv = ROOT.parent / "shared" / "data" / "epoch_chinchilla" / "svg_extracted_data.csv"
    with tempfile.TemporaryDirectory() as tmp:
        base = extract_revision(args.baseline, Path(tmp) / "baseline")
        results = {"baseline": [], "current": []}
        for i in range(args.rounds):
            for name, src in (("baseline", base), ("current", ROOT)):
                results[name].append(run_variant(src, csv, args.skip))
                print(f"round {i + 1}: {name} done", file=sys.stderr)
    rows, summary = [], {}
    for step in ("point", "bootstrap", "nuts"):
        if step not in results["current"][0]:
            continue
        for field in ("first_s", "run_s"):
            b = float(np.median([r[step][field] for r in results["baseline"]]))
            c = float(np.median([r[step][field] for r in results["current"]]))
            summary[f"{step}.{field}"] = {"baseline": b, "current": c, "ratio": c / b}
            rows.append([step, field, f"{b:.3f}", f"{c:.3f}", f"{c / b:.3f}", "yes" if c / b <= 1.15 else "NO"])
    print(table(rows, ["step", "time", "baseline [s]", "current [s]", "current/baseline", "within 15%"]))
    for step in ("point", "bootstrap", "nuts"):
        if step in results["current"][0]:
            print(f"{step}: baseline {json.dumps(results['baseline'][0][step])}")
            print(f"{step}: current  {json.dumps(results['current'][0][step])}")
    path = write_json("refactor", {"baseline_revision": args.baseline, "rounds": args.rounds,
                                   "summary": summary, "raw": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
