"""PSIS-LOO model comparison between law forms (``bayes_scaling.analysis.compare``), measured.

Three parts (choose with ``--parts``):

* ``datablations``: the 182 published datablations runs (../shared/backtests/datablations_pub182.csv,
  Muennighoff et al. 2023), chinchilla vs kaplan vs data-constrained. Acceptance (issue 10):
  data-constrained ranks first with elpd_diff > 2 dse over chinchilla.
* ``simulated``: ``--datasets`` datasets simulated from each of the three laws at published
  parameters (Chinchilla: Muennighoff's C4 base law; Kaplan et al. 2020 eq. 1.5; data-constrained:
  Muennighoff's C4 fit; ../shared/TARGETS.md §4, §6), each compared over all three laws.
  Acceptance: the true law ranks first in at least 80% of 20 datasets per law. The design repeats
  data (D up to 40 epochs of U, model sizes past N_opt(U)), as the datablations grid does, so that
  the forms differ; Gaussian noise of sd ``--noise`` on log loss. Reported with a 95% Clopper-Pearson
  interval on each rate, and the count of datasets where the true law is within 2 dse of the first
  (not significantly worse; the fair criterion for chinchilla, which data-constrained nests).
* ``epoch``: timing of ``compare`` with three laws on Epoch's 240 points (the 5 highest-loss rows
  dropped). Epoch's data have no unique-tokens column, so the three laws are chinchilla, kaplan and
  compute-only (data-constrained is refused). Two calls: the first compiles each law's sampler,
  the second (another seed) reuses the compiled programs.

Usage: python benchmarks/bench_compare.py [--parts datablations simulated epoch] [--datasets 20]
    [--chains 4 --warmup 1000 --samples 1000] [--sim-chains 4 --sim-warmup 500 --sim-samples 500]
Writes benchmarks/out/bench_compare.json and prints tables.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jax  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from _common import epoch_data, table, write_json  # noqa: E402
from bayes_scaling.analysis.compare import compare  # noqa: E402

DATABLATIONS = HERE.parents[1] / "shared" / "backtests" / "datablations_pub182.csv"
LAWS3 = ("chinchilla", "kaplan", "data-constrained")


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, sorted({str(w.message) for w in got if not issubclass(w.category, (DeprecationWarning,
                                                                                  FutureWarning))})


def _rows(tab):
    return [[r["law"], f"{r['elpd_loo']:.2f}", f"{r['se']:.2f}", f"{r['elpd_diff']:.2f}", f"{r['dse']:.2f}",
             f"{r['weight']:.3f}", r["pareto_k_bad"], r["converged"],
             "-" if r["max_rhat"] is None else f"{r['max_rhat']:.4f}", r["divergences"]] for r in tab]


HEAD = ["law", "elpd_loo", "se", "elpd_diff", "dse", "weight", "k>0.7", "converged", "max_rhat", "div"]


def part_datablations(args) -> dict:
    ds = bs.from_csv(DATABLATIONS, label="datablations 182 (published)")
    t0 = time.perf_counter()
    tab, msgs = _quiet(compare, ds, LAWS3, seed=args.seed, chains=args.chains, warmup=args.warmup,
                       samples=args.samples)
    wall = time.perf_counter() - t0
    print(f"\n== datablations: {ds.n} runs, {args.chains} x ({args.warmup} + {args.samples}), seed {args.seed}, "
          f"{wall:.0f} s")
    print(table(_rows(tab), HEAD))
    recs = tab.to_records()
    chin = next(r for r in recs if r["law"] == "chinchilla")
    ok = recs[0]["law"] == "data-constrained" and chin["elpd_diff"] > 2 * chin["dse"]
    print(f"data-constrained first with elpd_diff {chin['elpd_diff']:.2f} = {chin['elpd_diff'] / chin['dse']:.2f} "
          f"dse over chinchilla: {'PASS' if ok else 'FAIL'}")
    for m in msgs:
        print("  warning:", m)
    return {"table": tab.to_dict(), "seconds": wall, "pass": ok, "warnings": msgs}


def design():
    """Sizes 2e8..3e9, unique budgets 1e9, 4e9, 1.6e10 tokens, 1 to 40 epochs (the datablations grid's
    span, thinned): 4 x 3 x 5 = 60 runs."""
    N = np.array([2e8, 6e8, 1.2e9, 3e9])
    U = np.array([1e9, 4e9, 1.6e10])
    epochs = np.array([1.0, 2.0, 4.0, 12.0, 40.0])
    g = np.stack(np.meshgrid(N, U, epochs, indexing="ij"), axis=-1).reshape(-1, 3)
    return g[:, 0], g[:, 2] * g[:, 1], g[:, 1]


def truths():
    from bayes_scaling.laws import Chinchilla
    from bayes_scaling.laws.data_constrained import MUENNIGHOFF_2023
    from bayes_scaling.laws.kaplan import KAPLAN_2020

    base = MUENNIGHOFF_2023.base()
    return {"chinchilla": Chinchilla(*(float(x) for x in base)),
            "kaplan": KAPLAN_2020, "data-constrained": MUENNIGHOFF_2023}


def _clopper_pearson(k, n, level=0.95):
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def part_simulated(args) -> dict:
    """Datasets outermost (dataset i of every true law, then i + 1), so a partial run covers all laws."""
    N, D, U = design()
    key = jax.random.key(args.seed + 1000)
    laws = truths()
    out = {name: {"wins": 0, "not_rejected": 0, "datasets": 0, "seconds": 0.0, "runs": []} for name in laws}
    for i in range(args.datasets):
        for t, (true_name, law) in enumerate(laws.items()):
            t0 = time.perf_counter()
            k_data, k_fit = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, t), i))
            ds = bs.simulate(k_data, law, N, D, args.noise, label=f"sim {true_name} {i}", U=U)
            tab, msgs = _quiet(compare, ds, LAWS3, key=k_fit, chains=args.sim_chains, warmup=args.sim_warmup,
                               samples=args.sim_samples)
            recs = tab.to_records()
            o = out[true_name]
            o["wins"] += recs[0]["law"] == true_name
            mine = next(r for r in recs if r["law"] == true_name)
            o["not_rejected"] += mine["elpd_diff"] <= 2 * mine["dse"]
            o["datasets"] += 1
            o["seconds"] += time.perf_counter() - t0
            o["runs"].append({"first": recs[0]["law"], "warnings": msgs, "ranking": [
                {k: r[k] for k in ("law", "elpd_loo", "elpd_diff", "dse", "weight", "pareto_k_bad", "converged")}
                for r in recs]})
            print(f"  {true_name} #{i}: first {recs[0]['law']}; " + ", ".join(
                f"{r['law']} -{r['elpd_diff']:.1f}+-{r['dse']:.1f}" for r in recs[1:])
                + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = []
    for name, o in out.items():
        lo, hi = _clopper_pearson(o["wins"], o["datasets"])
        o.update(rate=o["wins"] / o["datasets"], ci95=[lo, hi])
        rows.append([name, f"{o['wins']}/{o['datasets']}", f"{o['rate']:.2f}", f"[{lo:.2f}, {hi:.2f}]",
                     "PASS" if o["rate"] >= 0.8 else "FAIL", f"{o['not_rejected']}/{o['datasets']}",
                     f"{o['seconds']:.0f}"])
    print(f"\n== simulated: {len(N)} runs per dataset, noise sd {args.noise} on log loss, "
          f"{args.sim_chains} x ({args.sim_warmup} + {args.sim_samples}) per law")
    print(table(rows, ["true law", "first", "rate", "95% CI", ">= 80%", "within 2 dse of first", "seconds"]))
    print("(chinchilla is nested in data-constrained (R_D*, R_N* -> inf): on chinchilla data the two predict "
          "alike and LOO cannot prefer the smaller form, so 'first' is near a coin flip there; 'within 2 dse "
          "of first' counts datasets where the true law is not significantly worse than the best)")
    return {"design_points": len(N), "noise": args.noise, "results": out}


def part_epoch(args) -> dict:
    ds = epoch_data()
    laws = ("chinchilla", "kaplan", "compute-only")
    calls = []
    for seed in (args.seed, args.seed + 1):
        t0 = time.perf_counter()
        tab, msgs = _quiet(compare, ds, laws, seed=seed, chains=args.chains, warmup=args.warmup,
                           samples=args.samples)
        calls.append({"seconds": time.perf_counter() - t0, "table": tab.to_dict(), "warnings": msgs,
                      "per_law_seconds": {k: v["seconds"] for k, v in tab.meta["laws"].items()}})
    print(f"\n== Epoch {ds.n} points, {', '.join(laws)} (no U column: data-constrained is refused), "
          f"{args.chains} x ({args.warmup} + {args.samples})")
    print(table(_rows(tab), HEAD))
    for i, c in enumerate(calls):
        per = ", ".join(f"{k} {v:.1f} s" for k, v in c["per_law_seconds"].items())
        print(f"call {i + 1} ({'with' if i == 0 else 'without'} compilation): {c['seconds']:.1f} s ({per})")
    return {"laws": laws, "calls": calls}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", nargs="+", default=["datablations", "simulated", "epoch"],
                   choices=["datablations", "simulated", "epoch"])
    p.add_argument("--datasets", type=int, default=20)
    p.add_argument("--noise", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--sim-chains", type=int, default=4)
    p.add_argument("--sim-warmup", type=int, default=500)
    p.add_argument("--sim-samples", type=int, default=500)
    args = p.parse_args()
    payload = {"settings": vars(args)}
    for part in args.parts:
        payload[part] = globals()[f"part_{part}"](args)
    name = "bench_compare" if len(args.parts) == 3 else "bench_compare_" + "_".join(args.parts)
    print("wrote", write_json(name, payload))


if __name__ == "__main__":
    main()
