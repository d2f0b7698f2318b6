"""Why the stacked factor over-covers the Kaplan-data simulation at low noise: the internal cuts' residual sd.

The width factor standardises each internal cut's extrapolation errors by that cut's least-squares
predictive sd, whose noise part is the cut's own residual sd (``prediction.discrepancy``). When a
form's misfit grows with the range of runs fitted, a cut (a smaller range) has a smaller residual sd
than the whole data, so the standardised errors and the factor come out too large for the whole-data
interval. This script measures the ratio (cut refit's residual sd) / (whole-data fit's residual sd)
of Chinchilla's form fitted to Kaplan-law data (``bench_discrepancy_sim.kaplan_dataset``) at two noise
levels, and to Chinchilla-law data (no misfit) for reference.

Usage: python benchmarks/bench_cut_residual_sd.py [--datasets 8]
Writes benchmarks/out/bench_cut_residual_sd.json.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import table, write_json
from bench_discrepancy_sim import chinchilla_dataset, kaplan_dataset
from bench_interval_designs import cut_fits

from bayes_scaling.analysis import backtest as bt
from bayes_scaling.laws import resolve
from bayes_scaling.prediction import discrepancy as dm


def ratios(data, spec):
    """Residual sd of each usable cut's least-squares refit over the whole-data fit's."""
    train, _ = bt.holdout_masks(data, 1.5e21, by="compute")
    t = data.subset(train)
    masks = [np.ones(t.n, bool)] + [m for _, m in dm.usable_cuts(t, spec)]
    s = np.sqrt([np.nan if f is None else f[2] for f in cut_fits(t, spec, masks)])
    return s[1:] / s[0], float(s[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=8)
    args = ap.parse_args()
    spec = resolve("chinchilla")
    cases = [("Kaplan data, noise 0.01", lambda j: kaplan_dataset(j, 0.01)),
             ("Kaplan data, noise 0.005", lambda j: kaplan_dataset(j, 0.005)),
             ("Chinchilla data (law true), noise 0.01", chinchilla_dataset)]
    out, rows = {"settings": vars(args), "cases": {}}, []
    for name, make in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = [ratios(make(j), spec) for j in range(args.datasets)]
        r = np.concatenate([g[0] for g in got])
        out["cases"][name] = {"ratios": r.tolist(), "whole_data_sd": [g[1] for g in got]}
        rows.append([name, r.size, f"{np.median(r):.3f}", f"{r.min():.2f}-{r.max():.2f}",
                     f"{np.median([g[1] for g in got]):.4f}"])
    print(table(rows, ["data (Chinchilla's form fitted)", "cuts", "median sd ratio", "range", "whole-data sd"]))
    write_json("bench_cut_residual_sd", out)


if __name__ == "__main__":
    main()
