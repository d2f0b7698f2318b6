"""Predictive coverage on simulated data: the law true, and a known discrepancy (fitted with the wrong law).

Two designs:

* ``compute`` (the known-discrepancy benchmark): 40 runs at compute 1e18-1e22 FLOP (log-spaced) from
  the compute law L(C) = 1.7 + 1000 C^-0.15 with Gaussian noise of sd 0.005 on log loss, times
  exp(g/2 (log10 C - 20)^2), a curvature in log-log space that the fitted law L(C) = E + A C^-alpha
  cannot follow. ``g = 0`` is the law-true case; with ``--curvature s`` each dataset draws its own
  g ~ Normal(0, s^2) (the discrepancy is random across datasets and its sign unknown). Runs above
  1e21 FLOP are held out (10 runs, up to 1 decade beyond the fit).
* ``chinchilla`` (law true, the package's default law): Hoffmann et al.'s fitted law on a
  Chinchilla-like isoFLOP design (``bayes_scaling.data.chinchilla_design``: 9 budgets 6e18-3e21,
  9 sizes each), Gaussian noise of sd 0.01 on log loss; the 3e21 budget (9 runs) is held out.
* ``kaplan`` (a known discrepancy between real forms: data from one law, fitted with another): Kaplan
  et al.'s joint law (``KAPLAN_2020``, no irreducible term, a power of a sum) on the same isoFLOP
  design extended by the budgets 1e22 and 3e22, Gaussian noise of sd 0.01 on log loss (``--noise``), fitted with
  the default law (Chinchilla's additive form). The runs above 1.5e21 FLOP (3e21, 1e22, 3e22: 27
  runs, 0.5-1.5 decades beyond the fit) are held out. Fitted without noise, Chinchilla's form
  over-predicts them by 1.1%, 2.1% and 3.1% on average while fitting the training runs within 0.6%
  (a least-squares fit to the noiseless training runs). The discrepancy is fixed across datasets (only the noise is
  redrawn), so coverage here asks whether the learned width follows one systematic error.

Each dataset is backtested with the bootstrap or NUTS; the default (discrepancy) and exact-law
intervals come from the same fits. The default is the package's current one: for the chinchilla and
kaplan designs (Chinchilla's form) that is the stacked-centre width factor since issue 11's fourth
design; the figures in benchmarks/RESULTS.md before that section are the width factor alone's
(``bench_stacked_centre.py`` compares the two on the same fits). Coverage is averaged over datasets; the standard error uses the
spread of the per-dataset coverages (the runs of one dataset share one fit).

Usage: python benchmarks/bench_discrepancy_sim.py [--design compute|chinchilla|kaplan] [--method bootstrap|nuts]
           [--datasets 16] [--curvature 0 0.06] [--replicates 30] [--warmup 500 --samples 500] [--out NAME]
Writes benchmarks/out/<NAME>.json (default bench_discrepancy_sim_<design>_<method>).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import jax
import numpy as np
from _common import write_json
from compute_law import ComputeLaw

import bayes_scaling as bs
from bayes_scaling.analysis import backtest as bt

TRUE = ComputeLaw(E=1.7, A=1000.0, alpha=0.15)
C = np.logspace(18, 22, 40)
N = np.sqrt(C / 6 / 20)
D = C / 6 / N


def dataset(j, scale):
    g = scale * float(jax.random.normal(jax.random.key(500 + j)))
    ds = bs.simulate(jax.random.key(1000 + j), TRUE, N, D, noise=0.005)
    return bs.from_arrays(N, D, ds.loss * np.exp(0.5 * g * (np.log10(C) - 20.0) ** 2)), g


def chinchilla_dataset(j):
    n, d = bs.data.chinchilla_design()
    return bs.from_arrays(n, d, bs.simulate(jax.random.key(3000 + j), bs.HOFFMANN_2022, n, d, noise=0.01).loss)


KAPLAN_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21, 1e22, 3e22)


def kaplan_dataset(j, noise=0.01):
    n, d = bs.data.chinchilla_design(budgets=KAPLAN_BUDGETS)
    return bs.from_arrays(n, d, bs.simulate(jax.random.key(5000 + j), bs.laws.KAPLAN_2020, n, d, noise=noise).loss)


def backtest(ds, args, j):
    kw = {"replicates": args.replicates} if args.method == "bootstrap" else \
        {"chains": 4, "warmup": args.warmup, "samples": args.samples}
    if args.design == "compute":
        kw.update(above_compute=1e21, law=ComputeLaw)
    else:  # chinchilla, kaplan: the default law
        kw.update(above_compute=1.5e21)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return bt.backtest(ds, method=args.method, key=jax.random.key(j), **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--design", choices=["compute", "chinchilla", "kaplan"], default="compute")
    ap.add_argument("--method", choices=["bootstrap", "nuts"], default="bootstrap")
    ap.add_argument("--datasets", type=int, default=16)
    ap.add_argument("--curvature", type=float, nargs="+", default=[0.0, 0.06])
    ap.add_argument("--replicates", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--noise", type=float, default=0.01, help="noise sd on log loss of the kaplan design")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    name = args.out or f"bench_discrepancy_sim_{args.design}_{args.method}"
    out = {"settings": vars(args), "scenarios": []}
    for scale in (args.curvature if args.design == "compute" else [0.0]):
        cov = {"discrepancy": [], "exact-law": []}
        factors, t0 = [], time.perf_counter()
        for j in range(args.datasets):
            if args.design == "compute":
                ds, g = dataset(j, scale)
            else:
                ds, g = (chinchilla_dataset(j) if args.design == "chinchilla" else kaplan_dataset(j, args.noise)), 0.0
            t = backtest(ds, args, j)
            factors.append(t.meta["discrepancy"]["factor"])
            for kind, prefix in (("discrepancy", ""), ("exact-law", "exact_law_")):
                cov[kind].append([np.mean([r[f"{prefix}in_{lv}"] for r in t.rows]) for lv in (50, 90)])
            print(f"{args.design} curvature sd {scale:g} dataset {j}: g {g:+.4f} factor {factors[-1]:.3f} "
                  f"coverage 50/90 new {cov['discrepancy'][-1]} old {cov['exact-law'][-1]}", flush=True)
        res = {"curvature_sd": scale, "datasets": args.datasets, "factors": factors,
               "wall_s": time.perf_counter() - t0}
        for kind, c in cov.items():
            c = np.asarray(c, float)
            res[kind] = {"coverage_50": c[:, 0].mean(), "coverage_90": c[:, 1].mean(),
                         "se_50": c[:, 0].std(ddof=1) / np.sqrt(len(c)), "se_90": c[:, 1].std(ddof=1) / np.sqrt(len(c)),
                         "per_dataset": c.tolist()}
        out["scenarios"].append(res)
        write_json(name, out)
    print(f"\n{args.design} design, {args.method}")
    print("| curvature sd | intervals | coverage 50% (se) | coverage 90% (se) | median factor |")
    print("|---|---|---|---|---|")
    for r in out["scenarios"]:
        for kind in ("exact-law", "discrepancy"):
            k = r[kind]
            print(f"| {r['curvature_sd']:g} | {kind} | {k['coverage_50']:.3f} ({k['se_50']:.3f}) | "
                  f"{k['coverage_90']:.3f} ({k['se_90']:.3f}) | {np.median(r['factors']):.3f} |")


if __name__ == "__main__":
    main()
