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
Writes benchmarks/out/bench_compare.json and prints tables. Real data are read from ../shared, or from
the folder named by the environment variable BAYES_SCALING_SHARED (holding data/ and backtests/); the
simulated part needs none.

Sharded simulated part (benchmarks/run_parallel_cpu.py drives it): ``--parts simulated --truth LAW
--dataset-start I --datasets K --out-dir DIR`` runs datasets I..I+K-1 of that true law (each dataset's
keys depend on its index only) and writes DIR/simulated_<law>_<I>-<I+K>.json; ``--merge DIR`` joins
the shards, prints the table and writes benchmarks/out/bench_compare_simulated.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jax  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from _common import SHARED_ROOT, environment, epoch_data, table, write_json  # noqa: E402
from bayes_scaling.analysis.compare import compare  # noqa: E402

DATABLATIONS = SHARED_ROOT / "backtests" / "datablations_pub182.csv"
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
    """Datasets outermost (dataset i of every true law, then i + 1), so a partial run covers all laws.

    Runs datasets ``args.dataset_start .. + args.datasets - 1`` of the true laws in ``args.truth``;
    dataset i of true law t uses keys folded from (t, i) only, so shards of a run hold exactly its
    datasets. With ``args.out_dir`` each true law's runs are written there as a shard for ``--merge``.
    """
    N, D, U = design()
    key = jax.random.key(args.seed + 1000)
    laws = truths()
    chosen = [n for n in laws if n in args.truth]
    runs = {name: [] for name in chosen}
    t_all = time.perf_counter()
    for i in range(args.dataset_start, args.dataset_start + args.datasets):
        for t, (true_name, law) in enumerate(laws.items()):
            if true_name not in chosen:
                continue
            t0 = time.perf_counter()
            k_data, k_fit = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, t), i))
            ds = bs.simulate(k_data, law, N, D, args.noise, label=f"sim {true_name} {i}", U=U)
            tab, msgs = _quiet(compare, ds, LAWS3, key=k_fit, chains=args.sim_chains, warmup=args.sim_warmup,
                               samples=args.sim_samples)
            recs = tab.to_records()
            runs[true_name].append({"dataset": i, "first": recs[0]["law"], "warnings": msgs,
                                    "seconds": time.perf_counter() - t0, "ranking": [
                {k: _plain(r[k]) for k in ("law", "elpd_loo", "elpd_diff", "dse", "weight", "pareto_k_bad",
                                           "converged")} for r in recs]})
            print(f"  {true_name} #{i}: first {recs[0]['law']}; " + ", ".join(
                f"{r['law']} -{r['elpd_diff']:.1f}+-{r['dse']:.1f}" for r in recs[1:])
                + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    settings = {k: getattr(args, k) for k in SIM_SETTINGS}
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        a, b = args.dataset_start, args.dataset_start + args.datasets
        for name, rr in runs.items():
            path = args.out_dir / f"simulated_{name}_{a:04d}-{b:04d}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"environment": environment(), "truth": name, "settings": settings,
                                       "datasets": [a, b], "seconds": time.perf_counter() - t_all,
                                       "runs": rr}, indent=1))
            tmp.replace(path)
            print(f"wrote shard {path}")
    return simulated_summary(runs, settings)


SIM_SETTINGS = ("noise", "seed", "sim_chains", "sim_warmup", "sim_samples")
"""Settings every shard of the simulated part must share to be merged."""


def _plain(x):
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x)
    return x


def simulated_summary(runs: dict, settings: dict) -> dict:
    """Per true law: how often it ranks first (95% Clopper-Pearson interval) and is within 2 dse of first."""
    out, rows = {}, []
    for name, rr in runs.items():
        rr = sorted(rr, key=lambda r: r["dataset"])
        idx = [r["dataset"] for r in rr]
        if len(idx) != len(set(idx)):
            raise SystemExit(f"{name}: some datasets appear twice; merge each run's shards only once")
        wins = sum(r["first"] == name for r in rr)
        mine = [next(x for x in r["ranking"] if x["law"] == name) for r in rr]
        not_rejected = sum(m["elpd_diff"] <= 2 * m["dse"] for m in mine)
        n = len(rr)
        lo, hi = _clopper_pearson(wins, n) if n else (float("nan"), float("nan"))
        rate = wins / n if n else float("nan")
        secs = [r["seconds"] for r in rr]
        out[name] = {"wins": wins, "not_rejected": not_rejected, "datasets": n, "rate": rate, "ci95": [lo, hi],
                     "seconds": float(sum(secs)), "seconds_per_dataset_median": float(np.median(secs)) if n else None,
                     "unconverged_fits": sum(not x["converged"] for r in rr for x in r["ranking"]), "runs": rr}
        rows.append([name, f"{wins}/{n}", f"{rate:.2f}", f"[{lo:.2f}, {hi:.2f}]",
                     "PASS" if n and rate >= 0.8 else "FAIL", f"{not_rejected}/{n}",
                     out[name]["unconverged_fits"], f"{sum(secs):.0f}"])
    N = design()[0]
    print(f"\n== simulated: {len(N)} runs per dataset, noise sd {settings['noise']} on log loss, "
          f"{settings['sim_chains']} x ({settings['sim_warmup']} + {settings['sim_samples']}) per law")
    print(table(rows, ["true law", "first", "rate", "95% CI", ">= 80%", "within 2 dse of first",
                       "unconverged fits", "seconds"]))
    print("(chinchilla is nested in data-constrained (R_D*, R_N* -> inf): on chinchilla data the two predict "
          "alike and LOO cannot prefer the smaller form, so 'first' is near a coin flip there; 'within 2 dse "
          "of first' counts datasets where the true law is not significantly worse than the best)")
    return {"design_points": len(N), "noise": settings["noise"], "settings": settings, "results": out}


def merge_simulated(directory: Path) -> dict:
    """Join every ``simulated_*.json`` shard under ``directory`` and print the ranking table."""
    shards = [json.loads(p.read_text()) for p in sorted(Path(directory).glob("simulated_*.json"))]
    if not shards:
        raise SystemExit(f"no simulated_*.json shards in {directory}")
    for sh in shards[1:]:
        if sh["settings"] != shards[0]["settings"]:
            raise SystemExit(f"shards with different settings cannot be merged: {shards[0]['settings']} vs "
                             f"{sh['settings']}")
    runs = {name: [] for name in truths() if any(sh["truth"] == name for sh in shards)}
    for sh in shards:
        runs[sh["truth"]].extend(sh["runs"])
    return simulated_summary(runs, shards[0]["settings"])


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
    p.add_argument("--datasets", type=int, default=20, help="simulated: datasets per true law (in this shard)")
    p.add_argument("--dataset-start", type=int, default=0, help="simulated: index of this shard's first dataset")
    p.add_argument("--truth", default=",".join(LAWS3), help="simulated: comma-separated true laws to run")
    p.add_argument("--out-dir", type=Path, default=None,
                   help="simulated: write one shard JSON per true law here (simulated_<law>_<first>-<end>.json)")
    p.add_argument("--merge", type=Path, default=None, metavar="DIR",
                   help="only merge the simulated shards in DIR, print the table, write bench_compare_simulated.json")
    p.add_argument("--noise", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--sim-chains", type=int, default=4)
    p.add_argument("--sim-warmup", type=int, default=500)
    p.add_argument("--sim-samples", type=int, default=500)
    args = p.parse_args()
    if args.merge is not None:
        payload = {"merged_from": str(args.merge), "simulated": merge_simulated(args.merge)}
        print("wrote", write_json("bench_compare_simulated", payload))
        return
    args.truth = [t.strip() for t in args.truth.split(",") if t.strip()]
    unknown = [t for t in args.truth if t not in LAWS3]
    if unknown:
        p.error(f"--truth: unknown law(s) {unknown}; choose from {list(LAWS3)}")
    if "datablations" in args.parts and not DATABLATIONS.exists():
        p.error(f"{DATABLATIONS} not found; set BAYES_SCALING_SHARED to the folder holding backtests/ and data/")
    payload = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    for part in args.parts:
        payload[part] = globals()[f"part_{part}"](args)
    name = "bench_compare" if len(args.parts) == 3 else "bench_compare_" + "_".join(args.parts)
    if args.out_dir is not None and args.parts == ["simulated"]:
        return  # a shard: its JSON is in --out-dir; --merge writes the summary
    print("wrote", write_json(name, payload))


if __name__ == "__main__":
    main()
