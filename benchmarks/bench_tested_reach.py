"""The default intervals' coverage within and beyond the width factor's tested reach.

The tested reach of a training set (``Discrepancy.reach``, :func:`bayes_scaling.prediction.discrepancy.tested_reach`)
is the farthest any internal cut's scored run lies beyond that cut's own runs, in decades of N, D or C
(:func:`bayes_scaling.prediction.extrapolation_decades`). A held-out run farther than that from the
training runs is predicted with a factor that no internal refit tested at that distance; ``predict`` and
``backtest`` flag such points. This benchmark measures the default's coverage on both sides, from runs
already made (nothing is refitted by a method here; only the factor is relearned, for its reach):

* the real-data suite: the rows of ``out/bench_backtest_suite_<method>_v8.json``, which carry
  ``beyond_tested_reach`` (``bench_backtest_suite.py``);
* the far extrapolations outside the suite: ``out/bench_stacked_centre_far_<method>.json``
  (``bench_stacked_centre.py --parts far``), whose splits stored their reach and flags;
* the development splits and the learning curves outside the suite: the default's (``stacked-centre``)
  per-point coverage in ``out/bench_stacked_centre_lsscale_<method>.json`` (``bench_stacked_centre.py``;
  its default rows are identical in every run since the default was chosen), with the reach relearned
  here from each split's training runs by the package's ``learn_discrepancy``.

The definition was written down before any of these numbers was computed; nothing is tuned on them
(the flag is a report; no interval changes with it).

Usage: python benchmarks/bench_tested_reach.py
Writes benchmarks/out/bench_tested_reach.json and prints a markdown table.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import coverage_by_side as sides, write_json
from bench_interval_designs import design_groups

from bayes_scaling.analysis import backtest as bt
from bayes_scaling.prediction import extrapolation_decades, learn_discrepancy

OUT = Path(__file__).resolve().parent / "out"
GROUPS = {"dev": "development splits (real, not in the suite)", "curves": "learning curves (real, not in the suite)"}


def suite(method) -> dict:
    d = json.loads((OUT / f"bench_backtest_suite_{method}_v8.json").read_text())
    rows = [r for res in d["results"] for r in res["rows"]]
    if any(r["beyond_tested_reach"] is None for r in rows):
        raise SystemExit("a suite row has no tested reach (rerun bench_backtest_suite.py on this version)")
    per = {res["split"]: {"reach": res["learned"]["tested_reach_decades"],
                          "beyond": sum(r["beyond_tested_reach"] for r in res["rows"]), "n": res["n"]}
           for res in d["results"]}
    return {"pooled": sides([r["beyond_tested_reach"] for r in rows], [r["in_50"] for r in rows],
                            [r["in_90"] for r in rows]), "splits": per}


def reach_and_flags(make, by, thr) -> tuple[float, np.ndarray]:
    """A split's tested reach (the package's default ``learn_discrepancy`` of its training runs) and which
    of its held-out runs lie beyond it (none when the reach is NaN: nothing learned)."""
    data = make()
    train, test = bt.holdout_masks(data, thr, by=by)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reach = learn_discrepancy(data.subset(train), "chinchilla").reach
    ext = extrapolation_decades(data.N[test], data.D[test], data=data.subset(train))
    return reach, ext > reach


def outside(method, part) -> dict:
    d = json.loads((OUT / f"bench_stacked_centre_lsscale_{method}.json").read_text())
    stored = d["groups"][GROUPS[part]]["splits"]
    (_, splits), = design_groups([part], 1)
    beyond, c50, c90, per = [], [], [], {}
    for (label, make, by, thr), r in zip(splits, stored, strict=True):
        if r["split"] != label:
            raise SystemExit(f"stored split {r['split']!r} is not {label!r}")
        reach, b = reach_and_flags(make, by, thr)
        if b.size != len(r["stacked-centre"]["cov90"]):
            raise SystemExit(f"{label}: {b.size} held-out runs, {len(r['stacked-centre']['cov90'])} stored")
        beyond += b.tolist()
        c50 += r["stacked-centre"]["cov50"]
        c90 += r["stacked-centre"]["cov90"]
        per[label] = {"reach": float(reach), "beyond": int(b.sum()), "n": int(b.size)}
    return {"pooled": sides(beyond, c50, c90), "splits": per}


def far(method) -> dict:
    """The far extrapolations outside the suite (``bench_stacked_centre.py --parts far``), whose splits
    stored their reach and flags when they ran."""
    d = json.loads((OUT / f"bench_stacked_centre_far_{method}.json").read_text())
    runs = d["groups"]["far extrapolations (real, not in the suite)"]["splits"]
    cat = lambda k: sum((list(r["stacked-centre"][k]) for r in runs), [])  # noqa: E731
    return {"pooled": sides(sum((list(r["beyond_tested_reach"]) for r in runs), []), cat("cov50"), cat("cov90")),
            "splits": {r["split"]: {"reach": r["tested_reach"] if r["tested_reach"] is not None else float("nan"),
                                    "beyond": int(sum(r["beyond_tested_reach"])), "n": r["n"]} for r in runs}}


def main():
    out = {}
    for method in ("bootstrap", "nuts"):
        out[method] = {"suite": suite(method), "dev": outside(method, "dev"), "curves": outside(method, "curves"),
                       "far": far(method)}
        write_json("bench_tested_reach", out)
    print("| method | data | held-out runs | points | pooled 50% | pooled 90% |")
    print("|---|---|---|---|---|---|")
    for method, groups in out.items():
        for g, res in groups.items():
            for side, p in res["pooled"].items():
                cov = "-" if not p["n"] else f"{p['cov50']:.3f} | {p['cov90']:.3f}"
                print(f"| {method} | {g} | {side} the tested reach | {p['n']} | {cov if p['n'] else '- | -'} |")
    print("\nper split (bootstrap): tested reach in decades, runs beyond it / held out")
    for g, res in out["bootstrap"].items():
        for label, s in res["splits"].items():
            print(f"  {g:6s} {label:48s} reach {s['reach']:.2f}  beyond {s['beyond']}/{s['n']}")


if __name__ == "__main__":
    main()
