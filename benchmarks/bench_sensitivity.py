"""Fit-region sweeps, fitting-choice sensitivity and extrapolation backtests on Epoch's 240 points.

(a) Point-fit sweep over 20 min-compute cut-offs: first call in this fresh process (compilation
    included; it contains the full-data 4,500-start fit that seeds the starts), compile time of the
    vmapped program apart from its run time, and a baseline in the same script: a Python loop of
    ``bs.fit`` on each region's subset (a new data size recompiles), timed on a few regions and
    extrapolated to 20.
(b) Bootstrap sweep, 20 regions x 200 replicates: first call (compilation included) and a second call
    with another key; baseline: ``bootstrap.bootstrap`` region by region (mask argument, one
    compilation), timed on a few regions and extrapolated.
(c) Fitting-choice report (the (Mis)fitting checklist) at Chinchilla's budget, 5.76e23 FLOP.
(d) Backtests: hold out C > 1e21 (point and bootstrap), and the rolling version.
(e) Calibration of backtest predictive intervals on simulated data from a known law
    (``--coverage-datasets`` independent datasets).
(f) NUTS over 4 regions through one compiled sampler (``--nuts``).

Usage: python benchmarks/bench_sensitivity.py [--coverage-datasets 100] [--nuts] [--quick]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

import bayes_scaling as bs
from bayes_scaling import backtest as bt
from bayes_scaling import sensitivity as sens
from bayes_scaling.bootstrap import bootstrap
from bayes_scaling.data import chinchilla_design
from bayes_scaling.laws import Chinchilla

from _common import epoch_data, table, write_json

BUDGET = 5.76e23


def iv(r, q, spec):
    """'estimate (lower, upper)' of quantity q in a table row."""
    return f"{r[q]:{spec}} ({r[q + '_lower']:{spec}}, {r[q + '_upper']:{spec}})"


def point_sweep(ds, cuts, n_baseline):
    out = {}
    t0 = time.perf_counter()
    t = sens.sweep(ds, "min-compute", cuts, budget=BUDGET)
    out["first_call_s"] = time.perf_counter() - t0
    # compile apart from run: AOT-compile the same vmapped program
    full = bs.fit(ds)
    starts = jnp.asarray(sens.region_starts(ds, full_fit=full))
    _, _, masks = sens.region_masks(ds, "min-compute", cuts * 1.001)
    args = (starts, ds.log_inputs(Chinchilla), jnp.log(ds.loss), jnp.asarray(masks, dtype=jnp.float64), 1e-3)
    t0 = time.perf_counter()
    compiled = sens.fit_masks.lower(*args, law=Chinchilla).compile()
    out["compile_s"] = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - t0)
    out["run_s"] = min(runs)
    t0 = time.perf_counter()
    bs.fit(ds)
    out["full_fit_run_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    t2 = sens.sweep(ds, "min-compute", cuts * 1.002, budget=BUDGET, full_fit=full)
    out["second_call_s"] = time.perf_counter() - t0
    out["traces"] = sens._TRACES["fit_masks"]
    # baseline: a loop of 4,500-start fits on each region's subset (new sizes recompile)
    idx = np.linspace(0, len(cuts) - 1, n_baseline).round().astype(int)
    t0 = time.perf_counter()
    base = []
    for i in idx:
        sub = ds.subset(ds.C >= cuts[i] * (1 - 1e-9))
        base.append(bs.fit(sub, warn=False))
    per = (time.perf_counter() - t0) / len(idx)
    out["baseline_per_region_s"] = per
    out["baseline_20_regions_s"] = per * len(cuts)
    out["max_rel_objective_diff_vs_baseline"] = float(max(
        abs(t[int(i)]["objective"] / float(r.objective) - 1) for i, r in zip(idx, base)))
    out["rows"] = t.to_records()
    del t2
    return out


def bootstrap_sweep(ds, cuts, replicates, n_baseline):
    out = {}
    full = bs.fit(ds)
    t0 = time.perf_counter()
    t = sens.sweep(ds, "min-compute", cuts, method="bootstrap", key=jax.random.key(0), replicates=replicates,
                   budget=BUDGET, full_fit=full)
    out["first_call_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sens.sweep(ds, "min-compute", cuts, method="bootstrap", key=jax.random.key(1), replicates=replicates,
               budget=BUDGET, full_fit=full)
    out["second_call_s"] = time.perf_counter() - t0
    # compile apart from run: AOT-compile the vmapped bootstrap program (one chunk shape)
    from bayes_scaling.bootstrap import default_starts, model_groups

    _, _, masks = sens.region_masks(ds, "min-compute", cuts)
    pts = sens.fit_regions(ds, masks, full_fit=full)
    centers = np.asarray(pts.x)
    starts = np.stack([default_starts(c, law=Chinchilla) for c in centers])
    M, S = starts.shape[:2]
    n_chunks = -(-replicates * M * S // sens.BOOTSTRAP_LANES)
    chunk = -(-replicates // n_chunks)
    args = (jax.random.key(0), ds.log_inputs(Chinchilla), jnp.log(ds.loss), jnp.asarray(masks, dtype=jnp.float64),
            jnp.asarray(starts), jnp.asarray(model_groups(ds.N), dtype=jnp.int32), jnp.asarray(centers), 0, 1e-3)
    t0 = time.perf_counter()
    sens.bootstrap_masks.lower(*args, law=Chinchilla, n_replicates=chunk).compile()
    out["compile_s"] = time.perf_counter() - t0
    out["chunks"] = n_chunks
    out["chunk_replicates"] = chunk
    out["traces"] = sens._TRACES["bootstrap_masks"]
    out["failed"] = int(np.sum(t["failed"]))
    idx = np.linspace(0, len(cuts) - 1, n_baseline).round().astype(int)
    _, _, masks = sens.region_masks(ds, "min-compute", cuts)
    bootstrap(jax.random.key(0), ds, replicates, mask=masks[0], warn=False)  # compile
    t0 = time.perf_counter()
    for i in idx:
        bootstrap(jax.random.key(0), ds, replicates, mask=masks[i], warn=False)
    per = (time.perf_counter() - t0) / len(idx)
    out["baseline_per_region_s"] = per
    out["baseline_20_regions_s"] = per * len(cuts)
    out["rows"] = t.to_records()
    return out


def coverage_study(M, replicates):
    true = bs.Chinchilla(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    N, D = chinchilla_design(budgets=(1e18, 3e18, 1e19, 3e19, 1e20, 3e20), sizes_per_budget=8, law=true)
    cov, err = [], []
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for j in range(M):
            d = bs.simulate(jax.random.key(1000 + j), true, N, D, noise=0.01)
            t = bt.backtest(d, above_compute=1.5e20, method="bootstrap", key=jax.random.key(j),
                            replicates=replicates)
            cov.append([t.meta["coverage"]["0.5"], t.meta["coverage"]["0.9"]])
            err.append(t.meta["mean_abs_rel_error"])
    cov = np.array(cov)
    se = cov.std(axis=0, ddof=1) / math.sqrt(M)
    return {"datasets": M, "held_out_per_dataset": 8, "replicates": replicates, "noise_sd": 0.01,
            "coverage_50": float(cov[:, 0].mean()), "se_50": float(se[0]),
            "coverage_90": float(cov[:, 1].mean()), "se_90": float(se[1]),
            "mean_abs_rel_error": float(np.mean(err)), "seconds": time.perf_counter() - t0}


def nuts_sweep(ds, cuts):
    t0 = time.perf_counter()
    t = sens.sweep(ds, "min-compute", cuts, method="nuts", key=jax.random.key(0), budget=BUDGET,
                   chains=4, warmup=1000, samples=1000)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    sens.sweep(ds, "min-compute", cuts, method="nuts", key=jax.random.key(1), budget=BUDGET,
               chains=4, warmup=1000, samples=1000)
    return {"first_call_s": first, "second_call_s": time.perf_counter() - t0, "rows": t.to_records()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coverage-datasets", type=int, default=100)
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--nuts", action="store_true")
    ap.add_argument("--quick", action="store_true", help="fewer baseline regions and datasets")
    ap.add_argument("--sweeps-only", action="store_true", help="only (a) and (b): the point and bootstrap sweeps")
    args = ap.parse_args()
    ds = epoch_data()
    cuts = np.quantile(ds.C, np.linspace(0.0, 0.6, 20))
    nb = 2 if args.quick else 5
    result = {}

    print("== (a) point-fit sweep, 20 min-compute cut-offs on Epoch's 240 points")
    a = point_sweep(ds, cuts, nb)
    result["point_sweep"] = a
    print(table([[f"{a['first_call_s']:.2f}", f"{a['compile_s']:.2f}", f"{a['run_s']:.2f}",
                  f"{a['full_fit_run_s']:.2f}", f"{a['second_call_s']:.2f}", a["traces"],
                  f"{a['baseline_20_regions_s']:.1f}", f"{a['max_rel_objective_diff_vs_baseline']:.1e}"]],
                ["first call [s]", "compile [s]", "run [s]", "full fit [s]", "2nd call [s]", "traces",
                 "loop of fits, 20 [s]", "max rel obj diff"]))
    print(table([[r["region"], r["n_points"], f"{r['E']:.4f}", f"{r['alpha']:.4f}", f"{r['beta']:.4f}",
                  f"{r['a']:.4f}", f"{r['N_opt']:.4g}", f"{r['tokens_per_param']:.2f}"] for r in a["rows"]],
                ["region", "n", "E", "alpha", "beta", "a", "N_opt", "D/N"]))

    print(f"\n== (b) bootstrap sweep, 20 regions x {args.replicates} replicates")
    b = bootstrap_sweep(ds, cuts, args.replicates, nb)
    result["bootstrap_sweep"] = b
    print(table([[f"{b['first_call_s']:.1f}", f"{b['second_call_s']:.1f}", f"{b['compile_s']:.1f}",
                  f"{b['chunks']} x {b['chunk_replicates']}", b["traces"], b["failed"],
                  f"{b['baseline_20_regions_s']:.1f}"]],
                ["first call [s]", "2nd call [s]", "compile [s]", "chunks x replicates", "traces",
                 "failed", "per-region loop, 20 [s]"]))
    print(table([[r["region"], r["n_points"], iv(r, "alpha", ".3f"), iv(r, "tokens_per_param", ".1f")]
                 for r in b["rows"]], ["region", "n", "alpha (90%)", "D/N (90%)"]))

    if args.sweeps_only:
        print(f"wrote {write_json('sensitivity_sweeps', result)}")
        return

    print("\n== (c) fitting choices at 5.76e23 FLOP")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ch = sens.fitting_choices(ds, budget=BUDGET, key=jax.random.key(0))
    c_s = time.perf_counter() - t0
    result["fitting_choices"] = {"seconds": c_s, **ch.to_dict()}
    print(table([[r["axis"], r["choice"][:28], f"{r['E']:.4f}", f"{r['alpha']:.4f}", f"{r['beta']:.4f}",
                  f"{r['N_opt']:.4g}", f"{r['tokens_per_param']:.2f}", r["converged"]] for r in ch],
                ["axis", "choice", "E", "alpha", "beta", "N_opt", "D/N", "converged"]))
    s = ch.meta["spread"]["all"]
    print(f"spread: N_opt x{s['N_opt']['ratio']:.3f}, D/N x{s['tokens_per_param']['ratio']:.3f} "
          f"({c_s:.1f} s)")

    print("\n== (d) backtests on Epoch: hold out C > 1e21")
    bk = {}
    methods = ("point", "bootstrap", "nuts") if args.nuts else ("point", "bootstrap")
    for method in methods:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t = bt.backtest(ds, above_compute=1e21, method=method, key=jax.random.key(0),
                            replicates=args.replicates)
        bk[method] = {"seconds": time.perf_counter() - t0, **t.to_dict()}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        roll = bt.rolling_backtest(ds, method="bootstrap", key=jax.random.key(0), replicates=args.replicates)
    bk["rolling_bootstrap"] = {"seconds": time.perf_counter() - t0, **roll.to_dict()}
    result["backtest"] = bk
    rows = []
    for method in methods:
        m = bk[method]
        cov = m["coverage"] or {"0.5": None, "0.9": None}
        rows.append([method, m["n_train"], m["n_holdout"], f"{m['mean_abs_rel_error']:.4f}",
                     f"{m['max_abs_rel_error']:.4f}", f"{m['mean_rel_error']:+.4f}", cov["0.5"], cov["0.9"],
                     f"{m['seconds']:.1f}"])
    def fmt(v):
        return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else v)

    print(table([[fmt(v) for v in r] for r in rows],
                ["method", "train", "held out", "mean |rel err|", "max |rel err|", "mean rel err",
                 "cov 50%", "cov 90%", "s"]))
    print("rolling (bootstrap):")
    print(table([[f"{s['threshold']:.3g}", s["n_train"], s["n_holdout"], f"{s['mean_abs_rel_error']:.4f}",
                  f"{s['coverage']['0.5']:.3f}", f"{s['coverage']['0.9']:.3f}"] for s in roll.meta["steps"]],
                ["fit on C <=", "train", "held out", "mean |rel err|", "cov 50%", "cov 90%"]))

    M = 10 if args.quick else args.coverage_datasets
    print(f"\n== (e) backtest calibration on {M} simulated datasets (known law, noise sd 0.01)")
    e = coverage_study(M, 100)
    result["coverage_simulated"] = e
    print(table([[e["datasets"], f"{e['coverage_50']:.3f} +- {e['se_50']:.3f}",
                  f"{e['coverage_90']:.3f} +- {e['se_90']:.3f}", f"{e['mean_abs_rel_error']:.4f}",
                  f"{e['seconds']:.0f}"]],
                ["datasets", "coverage 50%", "coverage 90%", "mean |rel err|", "s"]))

    if args.nuts:
        print("\n== (f) NUTS over 4 regions (one compiled sampler, regions in turn), "
              "4 chains x (1000 + 1000)")
        f = nuts_sweep(ds, cuts[[0, 5, 10, 15]])
        result["nuts_sweep"] = f
        print(table([[r["region"], r["n_points"], iv(r, "alpha", ".3f"),
                      f"{r['tokens_per_param']:.1f}", r["converged"], f"{r['max_rhat']:.4f}"]
                     for r in f["rows"]], ["region", "n", "alpha (90%)", "D/N", "converged", "max R-hat"]))
        print(f"first call {f['first_call_s']:.1f} s, second {f['second_call_s']:.1f} s")

    path = write_json("sensitivity", result)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
