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

Usage: python benchmarks/bench_law_recovery.py [--laws kaplan,compute-only] [--replicates 50]
       [--chains 4] [--warmup 500] [--samples 500] [--seed 0]
Writes benchmarks/out/bench_law_recovery.json and prints a table per law.
``--geometry`` instead compares posterior parameterisations (Kaplan's centred sites against N_c and
D_c sampled directly; compute-only's level coordinates against its centred sites) and writes
benchmarks/out/bench_law_geometry.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import numpy as np
from _common import write_json

import bayes_scaling as bs
from bayes_scaling.analysis.calibration import Scenario, coverage, format_table
from bayes_scaling.data import chinchilla_design
from bayes_scaling.laws import Law, resolve
from bayes_scaling.laws.compute_only import ComputeOnly
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


CASES = {"kaplan": _kaplan, "compute-only": _compute_only}


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


def run_law(name, args):
    scenarios = CASES[name]()
    spec = resolve(name)
    truth_of = {sc.label: sc for sc in scenarios}
    points = []

    def fit(key, ds):
        sc = truth_of[ds.label.rsplit(" #", 1)[0]]
        res = bs.fit(ds, law=spec, warn=False)
        z = (np.asarray(res.x) - np.asarray(sc.law.to_unconstrained())) / huber_se(sc.law, ds, sc.noise)
        points.append({"converged": bool(res.converged), "on_bound": bool(res.on_bound), "z": z.tolist()})
        return bs.sample(key, ds, law=spec, chains=args.chains, warmup=args.warmup, samples=args.samples,
                         warn=False)

    t0 = time.perf_counter()

    def progress(done, total, rec):
        if done % 10 == 0 or done == total:
            print(f"  {name}: {done}/{total} datasets, {time.perf_counter() - t0:.0f} s", flush=True)

    res = coverage(jax.random.key(args.seed), scenarios, fit, replicates=args.replicates, progress=progress,
                   law=spec)
    elapsed = time.perf_counter() - t0
    z = np.asarray([p["z"] for p in points])
    inside = np.mean(np.abs(z) < 1.96, axis=0) if len(z) else np.full(len(spec.unconstrained_names), np.nan)
    diag = [r.get("diagnostics", {}) for r in res.records]
    return {
        "law": name, "scenarios": [s.label for s in scenarios], "seconds": elapsed,
        "seconds_per_dataset_median": float(np.median([r["seconds"] for r in res.records])),
        "n_datasets": len(res.records), "failures": res.failures, "table": res.table,
        "n_converged": int(sum(bool(d.get("converged")) for d in diag)),
        "divergent_datasets": int(sum(d.get("divergences", 0) > 0 for d in diag)),
        "max_rhat": float(max(d.get("max_rhat", np.nan) for d in diag)) if diag else None,
        "point_fit": {"coordinates": list(spec.unconstrained_names),
                      "share_abs_z_below_1.96": inside.tolist(),
                      "n_converged": int(sum(p["converged"] for p in points)),
                      "n_on_bound": int(sum(p["on_bound"] for p in points)), "z": z.tolist()},
        "_result": res,
    }


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
    ap.add_argument("--replicates", type=int, default=50, help="datasets per scenario")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--geometry", action="store_true", help="only compare posterior parameterisations")
    args = ap.parse_args()
    if args.geometry:
        geometry()
        return
    names = [n.strip() for n in args.laws.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown law(s) {unknown}; this benchmark has {sorted(CASES)}")

    out = []
    for name in names:
        r = run_law(name, args)
        res = r.pop("_result")
        n = r["n_datasets"]
        print(f"\n## {name}: {n} datasets ({len(r['failures'])} failed), {r['seconds']:.0f} s "
              f"(median {r['seconds_per_dataset_median']:.2f} s per dataset incl. point fit); "
              f"{r['n_converged']} converged by the default checks, "
              f"{r['divergent_datasets']} with divergences, "
              f"max R-hat {r['max_rhat']:.3f}")
        print("\nNUTS coverage of central intervals (binomial SE):\n" + format_table(res))
        pf = r["point_fit"]
        print(f"\nPoint fit: {pf['n_converged']}/{n} converged, {pf['n_on_bound']} on a bound; share of "
              f"|z| < 1.96 (nominal 95%, binomial SE {100 * math.sqrt(0.95 * 0.05 / max(n, 1)):.1f}):")
        for c, s in zip(pf["coordinates"], pf["share_abs_z_below_1.96"]):
            print(f"  {c}: {100 * s:.1f}%")
        out.append(r)
    path = write_json("bench_law_recovery", {"settings": vars(args), "noise": NOISE, "laws": out})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
