"""Recovery and posterior coverage for the law forms other than Chinchilla (issue 10).

For each law under test, datasets are simulated from known parameters on a fixed design with Gaussian
noise on log loss. Each dataset is fitted twice:

* point fit (``bs.fit``, Huber delta 1e-3): the error in the law's unconstrained coordinates, divided
  by the Huber M-estimator's asymptotic standard error at the truth (Huber & Ronchetti, Robust
  Statistics, 2nd ed., sec. 7, as tests/test_foundation.py), should be standard normal: the share of
  |z| < 1.96 should be 95%;
* NUTS (``bs.sample``, default priors, Student-t likelihood): the 50% and 90% central intervals of
  each free parameter and derived quantity (and N_opt(1e24) for laws of N and D) should hold the
  truth in 50% and 90% of datasets, up to the binomial standard error shown
  (``bayes_scaling.analysis.calibration.coverage``).

Laws are registered by name in ``CASES``: a function returning the scenarios (true law, design, noise)
of that law. Add a law by adding an entry; ``--laws`` picks which run.

Usage: python benchmarks/bench_law_recovery.py [--laws kaplan,compute-only,data-constrained]
       [--replicates 50] [--chains 4] [--warmup 500] [--samples 500] [--seed 0]
Writes benchmarks/out/bench_law_recovery.json and prints a table per law.

Sharded (for many processes; benchmarks/run_parallel_cpu.py drives it): ``--replicate-start I
--replicates K --out-dir DIR`` runs datasets I..I+K-1 (each dataset's keys depend on its index only,
so shards give exactly the datasets of one run) and writes DIR/recovery_<law>_<I>-<I+K>.json;
``--merge DIR`` joins all shards in DIR, prints the tables and writes
benchmarks/out/bench_law_recovery.json.
``--geometry`` instead compares posterior parameterisations (Kaplan's centred sites against N_c and
D_c sampled directly; compute-only's level coordinates against its centred sites) and writes
benchmarks/out/bench_law_geometry.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import numpy as np
from _common import environment, write_json

import bayes_scaling as bs
from bayes_scaling.analysis.calibration import Scenario, coverage, format_table, from_records
from bayes_scaling.data import chinchilla_design
from bayes_scaling.laws import Law, resolve
from bayes_scaling.laws.compute_only import ComputeOnly
from bayes_scaling.laws.data_constrained import MUENNIGHOFF_2023
from bayes_scaling.laws.kaplan import KAPLAN_2020, Kaplan

NOISE = 0.01


def _kaplan():
    """Kaplan et al. 2020's fit (../shared/TARGETS.md §6) on 42 isoFLOP runs, 1e18-1e21 FLOP."""
    N, D = chinchilla_design(budgets=(1e18, 3e18, 1e19, 3e19, 1e20, 3e20, 1e21), sizes_per_budget=6,
                             law=KAPLAN_2020)
    return [Scenario(KAPLAN_2020, N, D, NOISE, f"kaplan/isoflop-42/sd={NOISE:g}")]


def _compute_only():
    """The compute-only law exact on Hoffmann et al.'s frontier (E = 1.69, alpha = 0.34 x 0.28 / 0.62,
    see laws/compute_only.py) on 24 compute-optimal runs, 1e18-1e22 FLOP."""
    law = bs.HOFFMANN_2022
    a, b = law.alpha, law.beta
    s = a + b
    G = (a * law.A / (b * law.B)) ** (1 / s)
    truth = ComputeOnly(E=law.E, A=law.A * (s / b) * G**-a * 6.0 ** (a * b / s), alpha=a * b / s)
    C = np.logspace(18, 22, 24)
    N = np.asarray(bs.predict.allocate(law, C).N_opt)
    return [Scenario(truth, N, C / (6 * N), NOISE, f"compute-only/frontier-24/sd={NOISE:g}")]


def _data_constrained():
    """Muennighoff et al. 2023's C4 fit (../shared/TARGETS.md §4) on 60 runs that repeat data: 5 sizes
    3e7..3e9 x unique tokens U in {1e8, 1e9, 1e10} x 1, 4, 16, 64 epochs (tests/test_data_constrained.py's
    design). The base law's N_opt(U) is U / 19.7, so every size exceeds N_opt(1e8) and four of five exceed
    N_opt(1e9): both decay constants are identified."""
    N, U, ep = (x.ravel() for x in np.meshgrid(np.geomspace(3e7, 3e9, 5), [1e8, 1e9, 1e10],
                                               [1.0, 4.0, 16.0, 64.0], indexing="ij"))
    return [Scenario(MUENNIGHOFF_2023, N, U * ep, NOISE, f"data-constrained/repeats-60/sd={NOISE:g}", U=U)]


CASES = {"kaplan": _kaplan, "compute-only": _compute_only, "data-constrained": _data_constrained}


def huber_se(law, data, sigma, delta=1e-3):
    """Asymptotic standard errors of the Huber M-estimator in the law's unconstrained coordinates."""
    spec = type(law)
    logX = data.log_inputs(spec)
    J = np.asarray(jax.jacfwd(lambda x: spec.log_loss_unconstrained(x, *logX))(law.to_unconstrained()))
    c = delta / sigma
    phi = math.exp(-0.5 * c * c) / math.sqrt(2 * math.pi)
    p_in = math.erf(c / math.sqrt(2))
    e_psi2 = sigma**2 * (p_in - 2 * c * phi) + delta**2 * (1 - p_in)
    return np.sqrt(np.diag((e_psi2 / p_in**2) * np.linalg.inv(J.T @ J)))


def run_law(name, args) -> dict:
    """Replicates ``args.replicate_start ..`` (``args.replicates`` of them) of law ``name``: one shard's
    raw results (records, failures, point-fit z), JSON-ready; :func:`summarise` makes the tables."""
    scenarios = CASES[name]()
    spec = resolve(name)
    truth_of = {sc.label: sc for sc in scenarios}
    points = []

    def fit(key, ds):
        label, rep = ds.label.rsplit(" #", 1)
        sc = truth_of[label]
        res = bs.fit(ds, law=spec, warn=False)
        z = (np.asarray(res.x) - np.asarray(sc.law.to_unconstrained())) / huber_se(sc.law, ds, sc.noise)
        points.append({"scenario": label, "replicate": int(rep), "converged": bool(res.converged),
                       "on_bound": bool(res.on_bound), "z": z.tolist()})
        return bs.sample(key, ds, law=spec, chains=args.chains, warmup=args.warmup, samples=args.samples,
                         warn=False)

    t0 = time.perf_counter()

    def progress(done, total, rec):
        print(f"  {name}: {done}/{total} datasets (replicate {rec['replicate']}, {rec['seconds']:.1f} s), "
              f"{time.perf_counter() - t0:.0f} s", flush=True)

    res = coverage(jax.random.key(args.seed), scenarios, fit, replicates=args.replicates, progress=progress,
                   law=spec, first_replicate=args.replicate_start)
    return {"law": name, "scenarios": [s.label for s in scenarios], "seconds": time.perf_counter() - t0,
            "levels": list(res.levels), "quantities": list(res.quantities),
            "coordinates": list(spec.unconstrained_names), "records": _plain(res.records),
            "failures": res.failures, "points": points,
            "settings": {k: getattr(args, k) for k in SHARD_SETTINGS},
            "replicates": [args.replicate_start, args.replicate_start + args.replicates]}


SHARD_SETTINGS = ("chains", "warmup", "samples", "seed")
"""Settings every shard of one law must share to be merged."""


def _plain(x):
    """JSON-ready copy: numpy/JAX scalars and bools as Python numbers."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if np.ndim(x) == 0 and not isinstance(x, str):
        return float(x)
    return x


def summarise(shards: list) -> dict:
    """Join the shards of one law (any order, no replicate twice) into its coverage and point-fit summary."""
    name = shards[0]["law"]
    for sh in shards[1:]:
        if sh["settings"] != shards[0]["settings"] or sh["scenarios"] != shards[0]["scenarios"]:
            raise SystemExit(f"{name}: shards with different settings or scenarios cannot be merged: "
                             f"{shards[0]['settings']} vs {sh['settings']}")
    order = {lab: i for i, lab in enumerate(shards[0]["scenarios"])}
    key = lambda r: (order[r["scenario"]], r["replicate"])  # noqa: E731
    records = sorted((r for sh in shards for r in sh["records"]), key=key)
    failures = sorted((f for sh in shards for f in sh["failures"]), key=key)
    points = sorted((p for sh in shards for p in sh["points"]), key=key)
    seen = [key(r) for r in records] + [key(f) for f in failures]
    if len(seen) != len(set(seen)):
        raise SystemExit(f"{name}: some replicates appear in two shards; merge each run's shards only once")
    res = from_records(records, failures, shards[0]["levels"], shards[0]["quantities"])
    z = np.asarray([p["z"] for p in points])
    n_coord = len(shards[0]["coordinates"])
    inside = np.mean(np.abs(z) < 1.96, axis=0) if len(z) else np.full(n_coord, np.nan)
    diag = [r.get("diagnostics", {}) for r in records]
    secs = [r["seconds"] for r in records]
    return {
        "law": name, "scenarios": shards[0]["scenarios"], "settings": shards[0]["settings"],
        "shards": len(shards), "seconds_all_shards": float(sum(sh["seconds"] for sh in shards)),
        "seconds_per_dataset_median": float(np.median(secs)) if secs else None,
        "n_datasets": len(records), "failures": failures, "table": res.table, "by_scenario": res.by_scenario,
        "n_converged": int(sum(bool(d.get("converged")) for d in diag)),
        "divergent_datasets": int(sum(d.get("divergences", 0) > 0 for d in diag)),
        "max_rhat": float(max(d.get("max_rhat", np.nan) for d in diag)) if diag else None,
        "point_fit": {"coordinates": shards[0]["coordinates"], "share_abs_z_below_1.96": inside.tolist(),
                      "n_converged": int(sum(p["converged"] for p in points)),
                      "n_on_bound": int(sum(p["on_bound"] for p in points)), "z": z.tolist()},
        "_result": res,
    }


def report(r: dict):
    res = r.pop("_result")
    n = r["n_datasets"]
    print(f"\n## {r['law']}: {n} datasets ({len(r['failures'])} failed) in {r['shards']} shard(s), "
          f"{r['seconds_all_shards']:.0f} s summed over shards (median {r['seconds_per_dataset_median'] or 0:.2f} s "
          f"per dataset incl. point fit); {r['n_converged']} converged by the default checks, "
          f"{r['divergent_datasets']} with divergences, max R-hat {r['max_rhat'] or float('nan'):.3f}")
    print("\nNUTS coverage of central intervals (binomial SE):\n" + format_table(res))
    print("\n" + _binomial_check(res))
    pf = r["point_fit"]
    print(f"\nPoint fit: {pf['n_converged']}/{n} converged, {pf['n_on_bound']} on a bound; share of "
          f"|z| < 1.96 (nominal 95%, binomial SE {100 * math.sqrt(0.95 * 0.05 / max(n, 1)):.1f}):")
    for c, s in zip(pf["coordinates"], pf["share_abs_z_below_1.96"]):
        print(f"  {c}: {100 * s:.1f}%")


def _binomial_check(res) -> str:
    """Per level: the largest |hits - n level| in binomial SEs, and each quantity's hits against the
    central 99% range of Binomial(n, level) Bonferroni-split over the rows (exact bounds)."""
    rows = res.table
    if not rows:
        return "(no fits)"
    alpha = 0.01 / len(rows)
    bad = []
    for row in rows:
        lo, hi = _binom_range(row["n"], row["level"], alpha)
        if not lo <= row["hits"] <= hi:
            bad.append(f"{row['quantity']}@{row['level']:g}: {row['hits']}/{row['n']} outside [{lo}, {hi}]")
    worst = max(abs(r["z"]) for r in rows)
    head = (f"largest deviation from nominal: {worst:.2f} binomial SE; every quantity's hit count inside the "
            f"central 99% range of Binomial(n, level) (Bonferroni over {len(rows)} rows): ")
    return head + ("yes" if not bad else "NO: " + "; ".join(bad))


def _binom_range(n, p, alpha):
    """Smallest lo and largest hi with P(X < lo) <= alpha/2 and P(X > hi) <= alpha/2, X ~ Binomial(n, p)."""
    pmf = [math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
    lo, acc = 0, 0.0
    while lo < n and acc + pmf[lo] <= alpha / 2:
        acc += pmf[lo]
        lo += 1
    hi, acc = n, 0.0
    while hi > 0 and acc + pmf[hi] <= alpha / 2:
        acc += pmf[hi]
        hi -= 1
    return lo, hi


def merge(directory: Path) -> list:
    """Read every ``recovery_*.json`` shard under ``directory``, summarise and print each law."""
    shards = [json.loads(p.read_text()) for p in sorted(Path(directory).glob("recovery_*.json"))]
    if not shards:
        raise SystemExit(f"no recovery_*.json shards in {directory}")
    by_law = {}
    for sh in shards:
        by_law.setdefault(sh["law"], []).append(sh)
    out = []
    for name in sorted(by_law, key=lambda n: list(CASES).index(n) if n in CASES else len(CASES)):
        r = summarise(by_law[name])
        report(r)
        out.append(r)
    return out


class _KaplanUncentred(Kaplan):
    """Kaplan's law with N_c and D_c sampled as they are (for --geometry only); wide priors on them."""

    name = "kaplan-uncentred"
    site_of = {}
    from_sites = classmethod(Law.from_sites.__func__)
    to_sites = Law.to_sites

    @classmethod
    def default_priors(cls):
        import numpyro.distributions as dist

        p = Kaplan.default_priors()
        return {"N_c": dist.LogNormal(math.log(1e14), 5.0), "D_c": dist.LogNormal(math.log(1e13), 5.0),
                "alpha_N": p["alpha_N"], "alpha_D": p["alpha_D"]}

    @classmethod
    def posterior_starts(cls, logs, logL, weights, center):
        starts = Kaplan.posterior_starts(logs, logL, weights, center)
        return [Kaplan.from_sites(s, center)._asdict() for s in starts]


def _geometry_row(label, post, sites):
    d = post.diagnostics
    z = np.stack([np.log(np.asarray(post.samples[n]).reshape(-1)) for n in sites])
    corr = np.corrcoef(z)
    off = np.abs(corr[~np.eye(len(sites), dtype=bool)])
    return {"setting": label, "steps_per_draw": round(post.config["steps_per_draw"], 2),
            "min_ess_bulk": round(float(d["min_ess_bulk"])), "divergences": int(d["divergences"]),
            "max_abs_corr_log_sites": round(float(off.max()), 3), "seconds": round(post.config["seconds"], 1)}


def geometry():
    """Kaplan: centred sites (L_N, L_D) against N_c, D_c sampled directly, dense and diagonal mass, on 81
    isoFLOP runs; compute-only: level coordinates against the centred sites, on 6 frontier datasets."""
    rows = []
    N, D = chinchilla_design(law=KAPLAN_2020)
    ds = bs.simulate(jax.random.key(0), KAPLAN_2020, N, D, NOISE)
    for law in (Kaplan, _KaplanUncentred):
        for dense in (True, False):
            post = bs.sample(jax.random.key(1), ds, law=law, chains=4, warmup=500, samples=500,
                             dense_mass=dense, warn=False)
            rows.append(_geometry_row(f"kaplan {law.sites()[:2]} {'dense' if dense else 'diagonal'}", post,
                                      law.sites()))
    sc = _compute_only()[0]
    for seed in range(6):
        ds = bs.simulate(jax.random.key(100 + seed), sc.law, sc.N, sc.D, sc.noise)
        for geo in ("level", "centred"):
            post = bs.sample(jax.random.key(seed), ds, law=ComputeOnly, chains=2, warmup=300, samples=300,
                             geometry=geo, warn=False)
            rows.append(_geometry_row(f"compute-only #{seed} {geo}", post, ComputeOnly.sites()))
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")
    print(f"wrote {write_json('bench_law_geometry', {'noise': NOISE, 'rows': rows})}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--laws", default=",".join(CASES), help=f"comma-separated, of {sorted(CASES)}")
    ap.add_argument("--replicates", type=int, default=50, help="datasets per scenario (in this shard)")
    ap.add_argument("--replicate-start", type=int, default=0,
                    help="index of this shard's first dataset (datasets depend on the index, not the shard)")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="write one shard JSON per law here (recovery_<law>_<first>-<end>.json) for --merge")
    ap.add_argument("--merge", type=Path, default=None, metavar="DIR",
                    help="only merge the shards in DIR, print the tables and write bench_law_recovery.json")
    ap.add_argument("--geometry", action="store_true", help="only compare posterior parameterisations")
    args = ap.parse_args()
    if args.geometry:
        geometry()
        return
    if args.merge is not None:
        out = merge(args.merge)
        path = write_json("bench_law_recovery", {"merged_from": str(args.merge), "noise": NOISE, "laws": out})
        print(f"\nwrote {path}")
        return
    names = [n.strip() for n in args.laws.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown law(s) {unknown}; this benchmark has {sorted(CASES)}")

    out = []
    for name in names:
        shard = run_law(name, args)
        if args.out_dir is not None:
            args.out_dir.mkdir(parents=True, exist_ok=True)
            a, b = shard["replicates"]
            path = args.out_dir / f"recovery_{name}_{a:04d}-{b:04d}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"environment": environment(), **shard}, indent=1))
            tmp.replace(path)
            print(f"wrote shard {path}")
        r = summarise([shard])
        report(r)
        out.append(r)
    if args.out_dir is None:
        path = write_json("bench_law_recovery", {"settings": vars(args), "noise": NOISE, "laws": out})
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
