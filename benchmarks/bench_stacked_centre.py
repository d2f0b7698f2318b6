"""The stacked-centre width factor (the default since issue 11's fourth design) against the width factor alone.

For each split the training runs are fitted with Chinchilla's form by one method (bootstrap or NUTS)
and the held-out runs predicted three ways from that one fit:

* ``exact-law``: the method's own predictive (replicates or draws with their noise);
* ``width-factor``: the previous default, that interval widened around the estimate by the factor
  learned from least-squares refits (``learn_discrepancy(..., stacked_centre=False)``);
* ``stacked-centre``: the default, the interval moved to the leave-future-out stacked prediction of
  Chinchilla's and Kaplan's forms and widened by the factor learned for that centre
  (``learn_discrepancy(...)``, :func:`bayes_scaling.prediction.discrepancy.learn_stacked_centre`).

and three candidates on top of the stacked centre that were judged against it by a rule written
before their runs and not adopted (benchmarks/RESULTS.md, "Candidates after the stacked centre"):

* ``t-quantiles``: the level-q interval widened by ``kappa * t_k(q') / z(q')``, q' = (1 + q) / 2, instead of
  ``kappa``: the factor is estimated from k = ``n_cuts`` internal cuts, so a new standardised error is
  Student-t with k degrees of freedom scaled by kappa (normal with unknown variance; Gelman et al.,
  Bayesian Data Analysis, 3rd ed., sec. 3.2);
* ``ls-anchored``: kappa is learned as a multiple of the form's least-squares predictive sd
  ``sqrt(s^2 + v)`` but applied to the method's exact-law interval, which for NUTS is narrower; here each
  side's half-width on the log scale is first raised to at least ``z(q') sqrt(s^2 + v)`` of the
  least-squares fit of the whole training data (the same delta method as the internal cuts);
* ``t+ls``: both;
* ``ls-scale``: centred at the stacked centre with log half-width ``z(q') * kappa * sqrt(s^2 + v)`` of
  the least-squares fit of the whole training data, the quantity kappa is calibrated against; the
  method gives only its estimate (written down before its runs, RESULTS.md "A fourth candidate");
* ``conformal``: as the stacked centre, but the level-q interval is widened by
  ``Q_w(|z|; q) / Phi^-1((1 + q) / 2)`` instead of kappa: the weighted empirical q-quantile of the
  same standardised stacked errors, each cut weighted equally (locally weighted split conformal, Lei
  et al. 2018, JASA 113, sec. 5.2), written down before its runs (RESULTS.md "A sixth candidate");
* ``whole-sd``: as the stacked centre, but each internal cut's stacked errors are standardised by
  ``s^2 (1 + v_c / s_c^2)`` instead of ``s_c^2 + v_c``: the whole training data's residual sd ``s``
  in place of the cut's own ``s_c``, which is smaller when a misfit grows with the range fitted
  (``bench_cut_residual_sd.py``; RESULTS.md "A fifth candidate").

Data: the development splits of ``bench_interval_designs.py`` (Porian et al.'s other isoFLOP
configurations, datablations up to 2.5 epochs: real, not in the backtest suite), the law-true
Chinchilla simulation and the Kaplan-data simulation of ``bench_discrepancy_sim.py`` (a known
discrepancy between real forms). The rule that made it the default was written down before any of
its runs (benchmarks/RESULTS.md): within 5 points of nominal when the law is true, development 90%
coverage in [0.82, 0.96], Kaplan-data 90% coverage nearer 0.90 than the width factor's, and a lower
development interval score averaged over the two methods.

Usage: python benchmarks/bench_stacked_centre.py [--method bootstrap|nuts] [--parts dev curves far chinchilla kaplan]
           [--datasets 16] [--replicates 100] [--out NAME]
Writes benchmarks/out/bench_stacked_centre_<method>.json (or NAME.json). ``curves`` are the learning
curves outside the suite (the (Mis)fitting sweep's checkpoints, ``bench_interval_designs.load_misfit_curves``);
``far`` the far extrapolations outside the suite (``bench_interval_designs.far_splits``). Each split
records the default's tested reach and which held-out runs lie beyond it (``beyond_tested_reach``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import numpy as np
from scipy import stats
from _common import coverage_by_side, design_line, design_table, run_design_groups
from bench_interval_designs import cut_fits, design_groups, point_metrics

from bayes_scaling.analysis import backtest as bt
from bayes_scaling.analysis.region_fits import fit_regions
from bayes_scaling.prediction import extrapolation_decades, learn_discrepancy, predict_loss
from bayes_scaling.laws import resolve
from bayes_scaling.prediction.discrepancy import _refit_errors, widen

DESIGNS = ("exact-law", "width-factor", "stacked-centre", "t-quantiles", "ls-anchored", "t+ls", "ls-scale", "whole-sd",
           "conformal")
LEVELS = (0.5, 0.9)


def ls_anchored(lo, hi, est, ls_sd, level):
    """The exact-law bounds with each side's log half-width raised to at least z(q') * ls_sd."""
    if ls_sd is None:
        return lo, hi
    a = stats.norm.ppf((1 + level) / 2) * ls_sd
    llo, lhi = np.log(lo), np.log(hi)
    c = np.clip(np.log(est), llo, lhi)
    return np.exp(c - np.maximum(c - llo, a)), np.exp(c + np.maximum(lhi - c, a))


def conformal_factor(z_cuts, level):
    """The weighted empirical level-quantile of |z| over Phi^-1((1 + level) / 2).

    Every cut has total weight 1/K, split equally over its scored runs; the quantile is the smallest
    |z| whose cumulative weight reaches ``level`` (inverted CDF, no interpolation)."""
    a = np.concatenate([np.abs(z) for z in z_cuts])
    w = np.concatenate([np.full(z.size, 1.0 / (len(z_cuts) * z.size)) for z in z_cuts])
    order = np.argsort(a, kind="stable")
    cum = np.cumsum(w[order])
    i = min(int(np.searchsorted(cum, level - 1e-12)), a.size - 1)
    return float(a[order][i] / stats.norm.ppf((1 + level) / 2))


def stacked_factors(train):
    """(S's factor recomputed, the whole-sd factor, S's per-cut standardised errors) from one set of
    least-squares refits of both forms.

    As :func:`bayes_scaling.prediction.discrepancy.learn_stacked_centre`: both forms refitted on the
    common usable cuts, leave-one-cut-out stacking weights, stacked errors ``r_w`` over Chinchilla's own
    least-squares predictive variance. S standardises by ``s_c^2 + v_c`` (the cut's residual variance and
    parameter variance); whole-sd by ``s^2 (1 + v_c / s_c^2)``, ``s`` the whole training data's residual sd.
    None when no cut can be used."""
    from bayes_scaling.prediction.averaging import _common_cuts, simplex_weights
    from bayes_scaling.prediction.discrepancy import CUT_FRACTIONS

    specs = (resolve("chinchilla"), resolve("kaplan"))
    masks = [m for _, m in _common_cuts(train, specs, CUT_FRACTIONS, 6.0)]
    if not masks:
        return None
    every = [np.ones(train.n, bool)] + masks
    logL = np.log(train.loss)
    per = []
    for sp in specs:
        out = []
        for m, fitted in zip(every, cut_fits(train, sp, every)):
            if fitted is None:
                out.append(None)
                continue
            pred, J, s2, cov = fitted
            t = ~m
            out.append((logL[t] - pred[t], s2, np.maximum(np.einsum("ip,pq,iq->i", J[t], cov, J[t]), 0.0)))
        per.append(out)
    if per[0][0] is None:
        return None
    s2_all = per[0][0][1]
    keep = [i for i in range(1, len(every)) if all(p[i] is not None and np.all(np.isfinite(p[i][0]))
                                                    and np.all(np.isfinite(p[i][1] + p[i][2]))
                                                    and np.all(p[i][1] + p[i][2] > 0) for p in per)]
    if len(keep) < 2:  # as the package: one cut cannot be scored with weights learned from other cuts
        return None
    R = [np.stack([p[i][0] for p in per]) for i in keep]
    Q = [r @ r.T / r.shape[1] for r in R]
    z2_s, z2_w, z_cuts = [], [], []
    for c, (i, r) in enumerate(zip(keep, R)):
        wc = simplex_weights(np.mean([q for j, q in enumerate(Q) if j != c], axis=0))
        r_w = wc @ r
        s2, v = per[0][i][1], per[0][i][2]
        z2_s.append(float(np.mean(r_w**2 / (s2 + v))))
        z_cuts.append(r_w / np.sqrt(s2 + v))
        z2_w.append(float(np.mean(r_w**2 / (s2_all * (1.0 + v / s2)))))
    return float(np.sqrt(np.mean(z2_s))), float(np.sqrt(np.mean(z2_w))), z_cuts


def one_split(data, by, thr, method, seed, replicates, scheme="rows"):
    train, _ = bt.holdout_masks(data, thr, by=by)
    test = ~train
    tr = data.subset(train)
    y = data.loss[test]
    kw = ({"replicates": replicates, "scheme": scheme} if method == "bootstrap"
          else {"warmup": 500, "samples": 500, "chains": 4})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = fit_regions(data, train[None], method=method, key=jax.random.key(seed), law="chinchilla", **kw)
        alone = learn_discrepancy(tr, "chinchilla", stacked_centre=False)
        stacked = learn_discrepancy(tr, "chinchilla")
        ls = _refit_errors(data, resolve("chinchilla"), [("all", train)])[0]  # LS fit of the training runs
    ls_sd = None if ls is None else np.sqrt(ls[3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both = stacked_factors(tr)
    whole = stacked.factor if both is None or stacked.companion is None else both[1]
    law, sigma, nu = fits.region(0)
    N, D = data.N[test], data.D[test]
    ext = extrapolation_decades(N, D, data=tr)
    res = {"n": int(y.size), "factor_alone": alone.factor, "factor_stacked": stacked.factor,
           "weight": stacked.weight, "companion": stacked.companion, "n_cuts": stacked.n_cuts,
           "factor_stacked_recomputed": None if both is None else both[0], "factor_whole_sd": whole,
           "tested_reach": None if not np.isfinite(stacked.reach) else stacked.reach,
           "beyond_tested_reach": (ext > stacked.reach).tolist()}
    conformal = (None if both is None or stacked.companion is None
                 else {lv: conformal_factor(both[2], lv) for lv in LEVELS})
    res["factor_conformal"] = None if conformal is None else {str(lv): f for lv, f in conformal.items()}
    bounds = {d: {} for d in DESIGNS}
    for lv in LEVELS:
        t = predict_loss(law, N=N, D=D, sigma=sigma, nu=nu, level=lv, intervals="exact-law")
        lo, hi, est = (np.asarray(t[c]) for c in ("predictive_lower", "predictive_upper", "estimate"))
        bounds["exact-law"][lv] = (lo, hi, est)
        bounds["width-factor"][lv] = (*widen(lo, hi, est, alone.factor), est)
        m = stacked.centre(est, N, D)
        bounds["stacked-centre"][lv] = (*widen(lo, hi, est, stacked.factor, m), m)
        q = (1 + lv) / 2
        tq = stats.t.ppf(q, stacked.n_cuts) / stats.norm.ppf(q) if stacked.n_cuts > 0 else 1.0
        bounds["t-quantiles"][lv] = (*widen(lo, hi, est, stacked.factor * tq, m), m)
        alo, ahi = ls_anchored(lo, hi, est, ls_sd, lv)
        bounds["ls-anchored"][lv] = (*widen(alo, ahi, est, stacked.factor, m), m)
        bounds["t+ls"][lv] = (*widen(alo, ahi, est, stacked.factor * tq, m), m)
        bounds["whole-sd"][lv] = (*widen(lo, hi, est, whole, m), m)
        bounds["conformal"][lv] = ((*widen(lo, hi, est, conformal[lv], m), m) if conformal is not None
                                   else bounds["stacked-centre"][lv])
        if ls_sd is not None:
            h = stats.norm.ppf(q) * stacked.factor * ls_sd
            bounds["ls-scale"][lv] = (m * np.exp(-h), m * np.exp(h), m)
        else:
            bounds["ls-scale"][lv] = bounds["stacked-centre"][lv]
    for d, b in bounds.items():
        res[d] = point_metrics(b, y)
    return res


def by_reach(splits, design) -> dict:
    """Pooled coverage of ``design`` within and beyond each split's tested reach (the default's)."""
    flags = np.concatenate([np.asarray(r["beyond_tested_reach"], bool) for r in splits])
    cov = {k: np.concatenate([np.asarray(r[design][k], bool) for r in splits]) for k in ("cov50", "cov90")}
    return coverage_by_side(flags, cov["cov50"], cov["cov90"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", choices=["bootstrap", "nuts"], default="bootstrap")
    ap.add_argument("--parts", nargs="+", default=["dev", "chinchilla", "kaplan"])
    ap.add_argument("--datasets", type=int, default=16)
    ap.add_argument("--replicates", type=int, default=100)
    ap.add_argument("--kaplan-noise", type=float, default=0.01, help="noise sd on log loss of the Kaplan data")
    ap.add_argument("--out", default=None, help="output name (default bench_stacked_centre_<method>)")
    ap.add_argument("--scheme", choices=["rows", "models"], default="rows",
                    help="the bootstrap's resampling scheme (models: whole model sizes, the cluster bootstrap)")
    args = ap.parse_args()
    groups = design_groups(args.parts, args.datasets, kaplan_noise=args.kaplan_noise)
    out = run_design_groups(
        groups, lambda i, label, make, by, thr: one_split(make(), by, thr, args.method, i, args.replicates, args.scheme),
        DESIGNS, args.out or f"bench_stacked_centre_{args.method}", vars(args),
        lambda r: (f"weight {r['weight']:.2f} factor alone {r['factor_alone']:.3f} stacked "
                   f"{r['factor_stacked']:.3f} (recomputed {r['factor_stacked_recomputed']}) whole-sd "
                   f"{r['factor_whole_sd']:.3f} conformal {r['factor_conformal']} " + design_line(r, DESIGNS)))
    print(f"\nmethod: {args.method}")
    print(design_table(out["groups"]))
    print("\n| data | design | held-out runs | points | pooled 50% | pooled 90% |")
    print("|---|---|---|---|---|---|")
    for title, g in out["groups"].items():
        for design in ("exact-law", "stacked-centre"):
            for side, p in by_reach(g["splits"], design).items():
                if p["n"]:
                    print(f"| {title} | {design} | {side} the tested reach | {p['n']} | {p['cov50']:.3f} | {p['cov90']:.3f} |")


if __name__ == "__main__":
    main()
