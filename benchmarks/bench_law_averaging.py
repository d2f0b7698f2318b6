"""Law-form averaging (leave-future-out stacking) against the single-form width factor, outside the suite.

For each split the training runs are fitted with each form (Chinchilla, Kaplan) by the same method
(bootstrap or NUTS) and the held-out runs predicted three ways from those fits:

* ``width-factor``: the package's default before averaging, Chinchilla's exact-law predictive widened
  by its learned kappa (:func:`bayes_scaling.prediction.learn_discrepancy`);
* ``stacked``: the forms' exact-law predictives mixed with leave-future-out stacking weights and
  widened by the stacked kappa (:func:`bayes_scaling.prediction.averaging.learn_stacking`);
* ``kaplan width-factor``: Kaplan's form alone, widened by its own kappa (for reference).

Data: the development splits of ``bench_interval_designs.py`` (Porian et al.'s other isoFLOP
configurations, datablations up to 2.5 epochs: real, not in the backtest suite), the law-true
Chinchilla simulation, and the Kaplan-data simulation of ``bench_discrepancy_sim.py``. The decision
rule was written down before any of this ran on the suite (benchmarks/RESULTS.md).

Usage: python benchmarks/bench_law_averaging.py [--method bootstrap|nuts] [--parts dev chinchilla kaplan]
           [--datasets 12] [--replicates 100]
Writes benchmarks/out/bench_law_averaging_<method>.json.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import numpy as np
from _common import design_line, design_table, run_design_groups
from bench_interval_designs import design_groups, point_metrics

from bayes_scaling.analysis import backtest as bt
from bayes_scaling.analysis.region_fits import fit_regions
from bayes_scaling.laws import resolve
from bayes_scaling.prediction import learn_discrepancy
from bayes_scaling.prediction.averaging import AVERAGED_LAWS, learn_stacking, log_loss_draws, stacked_interval

DESIGNS = ("width-factor", "stacked", "kaplan width-factor")


def _fits(data, train, method, seed, replicates):
    """Per form: (log mu (S, P) at the held-out runs, sigma, nu)."""
    test = ~train
    out = []
    kw = {"replicates": replicates} if method == "bootstrap" else {"warmup": 500, "samples": 500, "chains": 4}
    for name in AVERAGED_LAWS:
        spec = resolve(name)
        fits = fit_regions(data, train[None], method=method, key=jax.random.key(seed), law=spec, **kw)
        law, sigma, nu = fits.region(0)
        out.append((log_loss_draws(law, N=data.N[test], D=data.D[test]), sigma, nu))
    return out


def one_split(label, data, by, thr, method, seed, replicates):
    train, _ = bt.holdout_masks(data, thr, by=by)
    tr = data.subset(train)
    y = data.loss[~train]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = _fits(data, train, method, seed, replicates)
        kappas = [learn_discrepancy(tr, name, stacked_centre=False).factor for name in AVERAGED_LAWS]
        stack = learn_stacking(tr, AVERAGED_LAWS)
    mus, sigmas, nus = zip(*fits)
    setups = {"width-factor": ((1.0, 0.0), kappas[0]), "stacked": (stack.weights, stack.factor),
              "kaplan width-factor": ((0.0, 1.0), kappas[1])}
    res = {"split": label, "n": int(y.size), "weights": list(stack.weights), "stacked_factor": stack.factor,
           "kappas": kappas}
    for design, (w, f) in setups.items():
        b = {lv: stacked_interval(mus, sigmas, nus, w, lv, f) for lv in (0.5, 0.9)}
        res[design] = point_metrics(b, y)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", choices=["bootstrap", "nuts"], default="bootstrap")
    ap.add_argument("--parts", nargs="+", default=["dev", "chinchilla", "kaplan"])
    ap.add_argument("--datasets", type=int, default=12)
    ap.add_argument("--replicates", type=int, default=100)
    args = ap.parse_args()
    groups = design_groups(args.parts, args.datasets, kaplan_title="simulated: Kaplan data")
    out = run_design_groups(
        groups, lambda i, label, make, by, thr: one_split(label, make(), by, thr, args.method, i, args.replicates),
        DESIGNS, f"bench_law_averaging_{args.method}", vars(args),
        lambda r: (f"weights {np.round(r['weights'], 2).tolist()} stacked kappa {r['stacked_factor']:.3f} "
                   f"kappas {np.round(r['kappas'], 3).tolist()} " + design_line(r, DESIGNS)))
    print(f"\nmethod: {args.method}")
    print(design_table(out["groups"]))


if __name__ == "__main__":
    main()
