"""Interval designs side by side, on data that is NOT the backtest suite (how the default was chosen).

Issue 11 asks to measure the options before choosing. This script scores four ways of allowing for
the law's discrepancy beyond the data, all learned from the training runs' own rolling-origin
least-squares refits (the internal cuts of ``bayes_scaling.prediction.discrepancy``), on:

* **development splits** of real data outside ``../shared/backtests/SPLITS.md``: Porian et al.
  2024's isoFLOP points for five configurations other than the suite's (RW "Optimizer tuning (no
  decay)"): OWT2 optimizer tuning, OWT2 and RW cosine decay, OWT2 last-layer FLOPs, OWT2 corrected
  warmup (val loss, all their points); and datablations with up to 2.5 epochs (the suite uses the
  1-epoch runs), 11 splits in all;
* **simulated** datasets: the compute law with and without a random curvature it cannot follow, and
  Hoffmann's Chinchilla law on an isoFLOP design (law true).

Candidates (each applied to the same fit's exact-law 50% and 90% predictive intervals):

* ``exact-law``: parameter uncertainty and noise only;
* ``additive``: an independent Normal(0, (tau * reach)^2) on log loss, reach = e (w + e) beyond the
  data (e the distance, w the data's width, decades), tau by maximum likelihood over the cuts (the
  default before this comparison);
* ``width-factor``: the exact-law interval widened kappa times around the estimate, kappa^2 the mean
  over cuts of the mean squared standardised error z = r / sqrt(s^2 + v) (the default after it);
* ``both``: variance kappa^2 x exact-law variance + (tau * reach)^2, (kappa, tau) jointly by
  maximum likelihood;
* ``bias-slope``: a learned bias beta * reach with beta ~ Normal(0, t^2) shared by all cuts
  (empirical Bayes, likelihood tempered by the number of cuts), which shifts the interval.

Gaussian shapes on log loss use the exact-law 90% interval's implied sd. Reported: pooled 50% and
90% coverage, the split-average 90% coverage and the mean relative interval score of the 90%
interval (as in bench_backtest_suite.py).

Usage: python benchmarks/bench_interval_designs.py [--method bootstrap|nuts] [--datasets 12]
           [--parts dev sim]
Writes benchmarks/out/bench_interval_designs_<method>.json.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import jax
import jax.numpy as jnp
import numpy as np
from _common import design_table, run_design_groups
from compute_law import ComputeLaw
from scipy import stats

import bayes_scaling as bs
from bayes_scaling.analysis import backtest as bt
from bayes_scaling.prediction import discrepancy as dm
from bayes_scaling.laws import resolve

SHARED = Path(__file__).resolve().parents[2] / "shared"
PORIAN = SHARED / "data" / "porian2024" / "porian2024_isoflop_points.csv"
DBL = {"n_col": "params_N", "d_col": "tokens_D", "loss_col": "val_loss"}
DEV = {
    "porian owt2 optimizer tuning": ("owt2", "Optimizer tuning (no decay)"),
    "porian owt2 cosine decay": ("owt2", "Cosine decay"),
    "porian rw cosine decay": ("rw", "Cosine decay"),
    "porian owt2 last-layer flops": ("owt2", "Counting last layer FLOPs"),
    "porian owt2 corrected warmup": ("owt2", "Correcting warmup"),
    "datablations <= 2.5 epochs": None,
}
DEV_SPLITS = [("porian owt2 optimizer tuning", "compute", 6.4e18), ("porian owt2 optimizer tuning", "params", 5e8),
              ("porian owt2 cosine decay", "compute", 6.4e18), ("porian owt2 cosine decay", "params", 2e8),
              ("porian rw cosine decay", "compute", 6.4e18), ("porian rw cosine decay", "params", 2e8),
              ("porian owt2 last-layer flops", "compute", 6.4e18), ("porian owt2 last-layer flops", "params", 5e8),
              ("porian owt2 corrected warmup", "compute", 6.4e18),
              ("datablations <= 2.5 epochs", "compute", 1e21), ("datablations <= 2.5 epochs", "params", 3e9)]
CANDIDATES = ("exact-law", "additive", "width-factor", "both", "bias-slope")
Z = {0.5: stats.norm.ppf(0.75), 0.9: stats.norm.ppf(0.95)}
TAU = np.concatenate([[0.0], np.logspace(-4, 0, 241)])
KAPPA = np.logspace(np.log10(0.3), 1.0, 61)


MISFIT_CHECKPOINTS = SHARED / "data" / "misfitting2025" / "scaling_results.csv"
# Learning curves outside the suite (rule fixed before any fit, RESULTS.md "Learning curves outside the
# suite"): hold out the 6ND above the 80th percentile of the thinned points, rounded down to one
# significant figure, and the two largest model sizes.
CURVE_SPLITS = [("misfitting learning curves", "compute", 1e19), ("misfitting learning curves", "params", 5e8)]


def load_misfit_curves():
    """One learning curve per model size from the (Mis)fitting sweep's intermediate checkpoints.

    Per size: of the runs (sweep, peak LR, total steps) that reach the size's largest token count, the
    one with the lowest final loss; its checkpoints with D >= 10% of the final D, thinned to 12 bins
    of log D (median D and loss per bin), as ``../shared/backtests/derive_curves.py`` does for GPT-3's
    curves. 132 points, 11 sizes."""
    import pandas as pd

    m = pd.read_csv(MISFIT_CHECKPOINTS)
    m["run"] = m.sweep + "|" + m.peak_lr.astype(str) + "|" + m.total_steps.astype(str)
    final = m.loc[m.groupby(["model", "run"]).D.idxmax()]
    curves = []
    for model, runs in final.groupby("model"):
        runs = runs[runs.D == runs.D.max()]
        c = m[(m.model == model) & (m.run == runs.loc[runs.loss.idxmin(), "run"])]
        c = c[c.D >= 0.1 * c.D.max()].copy()
        c["bin"] = pd.cut(np.log10(c.D), bins=12, labels=False)
        curves.append(c.groupby("bin").agg(N=("N", "first"), D=("D", "median"), loss=("loss", "median")))
    lc = pd.concat(curves)
    return bs.from_arrays(lc.N.to_numpy(float), lc.D.to_numpy(float), lc.loss.to_numpy(float))


def load_dev(name):
    if DEV[name] is None:
        return bs.from_csv(SHARED / "backtests" / "datablations_le2p5ep.csv", **DBL)
    ds, label = DEV[name]
    return bs.from_csv(PORIAN, where=[f"dataset={ds}", f"label={label}", "loss_split=val"],
                       n_col="N", d_col="D", loss_col="loss")


def _floor_1sf(x: float) -> float:
    """x rounded down to one significant figure."""
    e = 10.0 ** np.floor(np.log10(x))
    return float(np.floor(x / e) * e)


def far_splits() -> list:
    """Far extrapolations outside the suite (rule fixed before any fit, RESULTS.md "Far extrapolations
    outside the suite"): for each development dataset and the (Mis)fitting learning curves, hold out the
    runs with 6ND above the 40th percentile of the dataset's 6ND rounded down to one significant figure,
    and the model sizes above the median distinct size (the lower middle one for an even count).
    Positions only: no loss is read to set a threshold. (label, make, by, threshold) per split."""
    from bayes_scaling.bootstrap import model_groups

    out = []
    for name, make in [(n, lambda n=n: load_dev(n)) for n in DEV] + [("misfitting learning curves", load_misfit_curves)]:
        data = make()
        C = 6.0 * data.N * data.D
        thr_c = _floor_1sf(float(np.percentile(C, 40)))
        g = model_groups(data.N)
        sizes = np.array([data.N[g == i].min() for i in range(int(g.max()) + 1)])
        thr_n = float(sizes[(sizes.size - 1) // 2])
        out += [(f"{name} compute > {thr_c:g} (far)", make, "compute", thr_c),
                (f"{name} params > {thr_n:.4g} (far)", make, "params", thr_n)]
    return out


def reach(N, D, ref_N, ref_D):
    """max over q in (N, D, C) of e_q (w_q + e_q), decades (the additive design's distance)."""
    out = np.zeros(np.shape(N))
    for x, r in ((np.log10(N), np.log10(ref_N)), (np.log10(D), np.log10(ref_D)),
                 (np.log10(N) + np.log10(D), np.log10(ref_N) + np.log10(ref_D))):
        e = np.maximum(0.0, np.maximum(r.min() - x, x - r.max()))
        out = np.maximum(out, e * (r.max() - r.min() + e))
    return out


def cut_fits(train, spec, masks):
    """Least-squares refits of ``spec`` on each boolean mask of ``train`` (one compiled program): per mask
    (fitted log loss at every run, Jacobian (n, p), residual variance s^2, delta-method covariance
    (J'J)^-1 s^2 from the fitted runs), or None where the refit did not converge."""
    from bayes_scaling.analysis.region_fits import fit_masks, region_starts

    logX, logL = train.log_inputs(spec), np.log(train.loss)
    res = fit_masks(jnp.asarray(region_starts(train, loss=dm._LOSS, law=spec)), logX, jnp.asarray(logL),
                    jnp.asarray(np.stack(masks), dtype=jnp.float64), law=spec, loss=dm._LOSS)
    x = np.asarray(res.x)
    ok = np.asarray(res.converged) & np.all(np.isfinite(x), axis=1)
    out = [None] * len(masks)
    if not ok.any():
        return out
    preds, jacs = (np.asarray(a) for a in dm._log_loss_and_jacobian(jnp.asarray(x[ok]), logX, spec=spec))
    for i, pred, J in zip(np.flatnonzero(ok), preds, jacs):
        m = masks[i]
        sd = dm._residual_sd(logL[m] - pred[m], x.shape[1])
        out[i] = (pred, J, sd * sd, np.linalg.pinv(J[m].T @ J[m], rcond=1e-12, hermitian=True) * sd * sd)
    return out


def internal_errors(train, spec, k=6.0):
    """Per usable cut: errors r, noise var s^2, parameter covariance V (delta method), reach d."""
    cuts = [m for _, m in dm.usable_cuts(train, spec, dm.CUT_FRACTIONS, k)]
    if not cuts:
        return []
    logL = np.log(train.loss)
    out = []
    for m, fitted in zip(cuts, cut_fits(train, spec, cuts)):
        if fitted is None:
            continue
        pred, J, s2, cov = fitted
        t = ~m
        out.append({"r": logL[t] - pred[t], "s2": s2, "V": J[t] @ cov @ J[t].T,
                    "d": reach(train.N[t], train.D[t], train.N[m], train.D[m])})
    return out


def learn(errs, kappa):
    """Each candidate's learned quantities from the internal errors (kappa: the package's own
    width factor, :func:`bayes_scaling.prediction.learn_discrepancy`)."""
    if not errs:
        return {"kappa": 1.0, "tau": 0.0, "both": (1.0, 0.0), "slope": (0.0, 0.0)}

    def loglik(k, tau):
        ll = 0.0
        for e in errs:
            V = k * k * (e["s2"] + np.diag(e["V"]))[None] + (tau[:, None] * e["d"][None]) ** 2
            ll = ll + np.mean(-0.5 * np.log(V) - 0.5 * e["r"][None] ** 2 / V, axis=1)
        return ll

    tau = float(TAU[np.argmax(loglik(1.0, TAU))])
    best = max(((float(loglik(k, TAU).max()), k, float(TAU[np.argmax(loglik(k, TAU))])) for k in KAPPA))
    w, a, b = 1.0 / len(errs), 0.0, 0.0
    for e in errs:
        Si = np.linalg.pinv(e["s2"] * np.eye(e["r"].size) + e["V"], hermitian=True)
        a += w * e["d"] @ Si @ e["d"]
        b += w * e["d"] @ Si @ e["r"]
    slope = (0.0, 0.0)
    if a > 0 and b * b / a > 1:
        P = 1.0 / ((b * b / a - 1) / a) + a
        slope = (b / P, 1.0 / P)
    return {"kappa": kappa, "tau": tau, "both": (best[1], best[2]), "slope": slope}


def bounds(rows, test_reach, learned, cand, level):
    tag = round(100 * level)
    pred = np.array([r["predicted"] for r in rows])
    lo = np.array([r[f"exact_law_lower_{tag}"] for r in rows])
    hi = np.array([r[f"exact_law_upper_{tag}"] for r in rows])
    sdx = np.log(np.array([r["exact_law_upper_90"] / r["exact_law_lower_90"] for r in rows])) / (2 * Z[0.9])
    c, z = np.log(pred), Z[level]
    if cand == "exact-law":
        return lo, hi
    if cand == "width-factor":
        k = learned["kappa"]
        return np.exp(c + k * (np.log(lo) - c)), np.exp(c + k * (np.log(hi) - c))
    if cand == "additive":
        sd = np.sqrt(sdx ** 2 + (learned["tau"] * test_reach) ** 2)
    elif cand == "both":
        k, tau = learned["both"]
        sd = np.sqrt((k * sdx) ** 2 + (tau * test_reach) ** 2)
    else:
        mu, var = learned["slope"]
        c = c + mu * test_reach
        sd = np.sqrt(sdx ** 2 + var * test_reach ** 2)
    return np.exp(c - z * sd), np.exp(c + z * sd)


def score(lo, hi, y, a=0.1):
    return ((hi - lo) + 2 / a * np.maximum(lo - y, 0) + 2 / a * np.maximum(y - hi, 0)) / y


def point_metrics(bounds, y) -> dict:
    """Per-point lists for :func:`_common.summarise_designs` from ``bounds`` {0.5: (lo, hi, centre),
    0.9: (lo, hi, centre)} at the held-out losses ``y``: coverage flags, 90% interval scores and absolute
    relative errors of the 90% interval's centre."""
    return {"cov50": ((bounds[0.5][0] <= y) & (y <= bounds[0.5][1])).tolist(),
            "cov90": ((bounds[0.9][0] <= y) & (y <= bounds[0.9][1])).tolist(),
            "score": score(bounds[0.9][0], bounds[0.9][1], y).tolist(),
            "abs_err": np.abs(bounds[0.9][2] / y - 1).tolist()}


def design_groups(parts, datasets, kaplan_title="simulated: Kaplan data, Chinchilla's form", kaplan_noise=0.01) -> list:
    """(title, [(label, make_dataset, by, threshold), ...]) for the development splits ("dev"), the
    learning curves outside the suite ("curves") and the
    law-true Chinchilla ("chinchilla") and Kaplan-data ("kaplan") simulations of
    ``bench_discrepancy_sim.py``, ``datasets`` each, in that order."""
    from bench_discrepancy_sim import chinchilla_dataset, kaplan_dataset

    groups = []
    if "dev" in parts:
        groups.append(("development splits (real, not in the suite)",
                       [(f"{n} {by} > {thr:g}", lambda n=n: load_dev(n), by, thr) for n, by, thr in DEV_SPLITS]))
    if "curves" in parts:
        groups.append(("learning curves (real, not in the suite)",
                       [(f"{n} {by} > {thr:g}", load_misfit_curves, by, thr) for n, by, thr in CURVE_SPLITS]))
    if "far" in parts:
        groups.append(("far extrapolations (real, not in the suite)", far_splits()))
    if "chinchilla" in parts:
        groups.append(("simulated: Chinchilla law true",
                       [(f"chinchilla #{j}", lambda j=j: chinchilla_dataset(j), "compute", 1.5e21)
                        for j in range(datasets)]))
    if "kaplan" in parts:
        if kaplan_noise != 0.01:
            kaplan_title = f"{kaplan_title}, noise {kaplan_noise:g}"
        groups.append((kaplan_title, [(f"kaplan #{j}", lambda j=j: kaplan_dataset(j, kaplan_noise), "compute", 1.5e21)
                                      for j in range(datasets)]))
    return groups


def one_split(label, data, by, thr, method, seed, law="chinchilla", replicates=100):
    spec = resolve(law)
    kw = {"replicates": replicates} if method == "bootstrap" else {"warmup": 500, "samples": 500}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = bt.backtest(data, method=method, key=jax.random.key(seed), law=spec, intervals="exact-law",
                        **({"above_compute": thr} if by == "compute" else {"above_params": thr}), **kw)
    train_mask, _ = bt.holdout_masks(data, thr, by=by)
    train = data.subset(train_mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learned = learn(internal_errors(train, spec), dm.learn_discrepancy(train, spec, stacked_centre=False).factor)
    rows = t.rows
    test_reach = reach(np.array([r["N"] for r in rows]), np.array([r["D"] for r in rows]), train.N, train.D)
    y = np.array([r["loss"] for r in rows])
    res = {"split": label, "n": len(rows), "kappa": learned["kappa"], "tau": learned["tau"]}
    for cand in CANDIDATES:
        b50, b90 = (bounds(rows, test_reach, learned, cand, lv) for lv in (0.5, 0.9))
        res[cand] = {"cov50": ((b50[0] <= y) & (y <= b50[1])).tolist(), "cov90": ((b90[0] <= y) & (y <= b90[1])).tolist(),
                     "score": score(*b90, y).tolist()}
    return res


def simulated(kind, j):
    if kind.startswith("compute"):
        g = float(kind.split("=")[1]) * float(jax.random.normal(jax.random.key(500 + j)))
        C = np.logspace(18, 22, 40)
        N = np.sqrt(C / 6 / 20)
        D = C / 6 / N
        ds = bs.simulate(jax.random.key(1000 + j), ComputeLaw(E=1.7, A=1000.0, alpha=0.15), N, D, noise=0.005)
        return bs.from_arrays(N, D, ds.loss * np.exp(0.5 * g * (np.log10(C) - 20.0) ** 2)), "compute", 1e21, ComputeLaw
    N, D = bs.data.chinchilla_design()
    ds = bs.simulate(jax.random.key(3000 + j), bs.HOFFMANN_2022, N, D, noise=0.01)
    return bs.from_arrays(N, D, ds.loss), "compute", 1.5e21, "chinchilla"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", choices=["bootstrap", "nuts"], default="bootstrap")
    ap.add_argument("--datasets", type=int, default=12)
    ap.add_argument("--parts", nargs="+", default=["dev", "sim"])
    args = ap.parse_args()
    groups = []
    if "dev" in args.parts:
        groups.append(("development splits (real, not in the suite)",
                       [(f"{n} {by} > {thr:g}", lambda n=n: load_dev(n), by, thr, "chinchilla")
                        for n, by, thr in DEV_SPLITS]))
    if "sim" in args.parts:
        for kind, key in (("compute, curvature sd=0", "compute=0"), ("compute, curvature sd=0.06", "compute=0.06"),
                          ("chinchilla, law true", "chinchilla")):
            sims = [simulated(key, j) for j in range(args.datasets)]
            groups.append((f"simulated: {kind}", [(f"{kind} #{j}", lambda s=s: s[0], *s[1:])
                                                  for j, s in enumerate(sims)]))
    out = run_design_groups(
        groups, lambda i, label, make, by, thr, law: one_split(label, make(), by, thr, args.method, seed=i, law=law,
                                                               replicates=100 if law == "chinchilla" else 30),
        CANDIDATES, f"bench_interval_designs_{args.method}", vars(args),
        lambda r: f"kappa {r['kappa']:.3f} tau {r['tau']:.4f}", keys=("cov50", "cov90", "score"))
    print(f"\nmethod: {args.method}")
    print(design_table(out["groups"], abs_err=False))


if __name__ == "__main__":
    main()
