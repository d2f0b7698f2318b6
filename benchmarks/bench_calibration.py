"""Calibration of the NUTS posterior: coverage of nominal 50% and 90% central intervals.

Datasets are simulated from known laws (Hoffmann et al. 2022's published law and Epoch's
re-estimate, ../shared/TARGETS.md §2-3) on two isoFLOP designs (Chinchilla-like, 9 budgets from
6e18 to 3e21 FLOP x 9 sizes; and a small one, 5 budgets from 1e18 to 1e20 x 6 sizes) with Gaussian
noise of sd 0.005 or 0.02 on log loss: 8 scenarios. Each dataset is fitted with
``bayes_scaling.posterior.sample`` (defaults: Student-t likelihood, default priors; 4 chains x
(500 warmup + 500 draws)), and the truth is checked against the central intervals of E, alpha,
beta, a = beta/(alpha+beta) and N_opt(1e24). Binomial standard errors beside each coverage.

Usage: python benchmarks/bench_calibration.py [--replicates 32] [--warmup 500] [--samples 500]
Writes benchmarks/out/bench_calibration.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import numpy as np
from _common import write_json

from bayes_scaling import HOFFMANN_2022, posterior
from bayes_scaling.analysis.calibration import Scenario, coverage, format_table
from bayes_scaling.data import chinchilla_design
from bayes_scaling.laws import Chinchilla

EPOCH_2024 = Chinchilla(E=1.8169, A=482.01, B=2085.43, alpha=0.3478, beta=0.3659)  # TARGETS.md §2
LAWS = {"hoffmann": HOFFMANN_2022, "epoch": EPOCH_2024}
DESIGNS = {
    "isoflop-81": {},
    "small-30": {"budgets": (1e18, 3e18, 1e19, 3e19, 1e20), "sizes_per_budget": 6},
}
NOISES = (0.005, 0.02)


def scenarios():
    out = []
    for lname, law in LAWS.items():
        for dname, kw in DESIGNS.items():
            N, D = chinchilla_design(law=law, **kw)
            for noise in NOISES:
                out.append(Scenario(law, N, D, noise, label=f"{lname}/{dname}/sd={noise:g}"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=32, help="datasets per scenario")
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    def fit(key, ds):
        return posterior.sample(key, ds, chains=args.chains, warmup=args.warmup, samples=args.samples, warn=False)

    sc = scenarios()
    t0 = time.perf_counter()

    def progress(done, total, rec):
        if done % 16 == 0 or done == total:
            print(f"  {done}/{total} datasets, {time.perf_counter() - t0:.0f} s", flush=True)

    res = coverage(jax.random.key(args.seed), sc, fit, replicates=args.replicates, progress=progress)
    elapsed = time.perf_counter() - t0
    conv = [r["diagnostics"]["converged"] for r in res.records]
    print(f"\n{len(res.records)} datasets fitted ({len(res.failures)} failed), {elapsed:.0f} s; "
          f"{int(np.sum(conv))} converged by the default checks (R-hat <= 1.01, ESS >= 400, no divergences)")
    print("\nAll scenarios:\n" + format_table(res))
    print("\nBy scenario:\n" + format_table(res, by_scenario=True))
    worst = max(abs(row["coverage"] - row["level"]) for row in res.table)
    print(f"\nlargest |coverage - nominal| over quantities and levels: {100 * worst:.1f} points "
          "(target <= 5)")
    path = write_json("bench_calibration", {
        "settings": vars(args), "seconds": elapsed, "n_datasets": len(res.records),
        "n_converged": int(np.sum(conv)), "failures": res.failures, "table": res.table,
        "by_scenario": res.by_scenario, "scenarios": [s.label for s in sc], "records": res.records,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
