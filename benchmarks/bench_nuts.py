"""NUTS on Epoch's 240 points, 4 chains x (1000 warmup + 1000 draws): geometry and sampler, measured.

Each variant runs in a fresh Python process (no persistent compilation cache), twice: the first call
includes compilation, the second (another seed) reuses the compiled program. Reported: wall and CPU
time of both calls, leapfrog steps per draw, max R-hat, min bulk/tail ESS over E, A, B, alpha, beta,
a, sigma, nu (ArviZ), divergences, and min-ESS per second (first call, compilation included; and
second call, run only).

Variants (all sample the SAME posterior: Student-t noise on log loss, the default priors of
``bayes_scaling.posterior`` for the Chinchilla law, so medians agree):

* ``numpyro-uncentred-diag``: the baseline, plain numpyro ``MCMC(NUTS(...))`` on log E, log A, log B,
  alpha, beta (flat sites plus the priors as factors), diagonal mass matrix, numpyro's default
  initialisation (uniform in (-2, 2) in unconstrained space).
* ``numpyro-uncentred-dense``, ``numpyro-centred-diag``, ``numpyro-centred-dense``: the geometry
  choices one at a time, still numpyro's sampler (``centred`` = ``bayes_scaling.posterior.model``).
* ``engine-centred-diag``, ``engine-centred-dense``: ``bayes_scaling.posterior.sample`` (the package's
  one-loop engine: BFGS mode search, Laplace metric, Stan windowed adaptation) with
  ``geometry="centred"`` (sampling log E, log A_c, log B_c).
* ``engine-level-dense``: the defaults (level coordinates log L_c, log A_c/E, log B_c/E; dense).
* ``engine-level-dense-normal``: the defaults with Gaussian noise (a different posterior), for
  reference.

Then the CLI end to end (a fresh process each: imports, data loading, sampling, JSON), with an
empty and then a warm persistent compilation cache (the CLI enables one under ~/.cache).

Usage: python benchmarks/bench_nuts.py [--only NAME ...] [--skip-cli]
Writes benchmarks/out/bench_nuts.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

VARIANTS = [
    "numpyro-uncentred-diag",
    "numpyro-uncentred-dense",
    "numpyro-centred-diag",
    "numpyro-centred-dense",
    "engine-centred-diag",
    "engine-centred-dense",
    "engine-level-dense",
    "engine-level-dense-normal",
]
CHAINS, WARMUP, SAMPLES = 4, 1000, 1000


def _uncentred_model(logN, logD, log_loss=None, likelihood="student-t"):
    """The baseline: sites on (log E, log A, log B) and alpha, beta; the same priors as posterior.model.

    Flat sites plus factors give exactly the density of bayes_scaling.posterior.model in other
    coordinates (the map (log A_c, alpha) -> (log A, alpha) is a shear with unit Jacobian).
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    from bayes_scaling.laws import Chinchilla
    from bayes_scaling.posterior import default_priors

    p = default_priors(Chinchilla)
    cN, cD = jnp.mean(logN), jnp.mean(logD)
    flat = dist.ImproperUniform(constraints.real, (), ())
    e = numpyro.sample("e", flat)
    a = numpyro.sample("a", flat)
    b = numpyro.sample("b", flat)
    alpha = numpyro.sample("alpha", p["alpha"])
    beta = numpyro.sample("beta", p["beta"])
    sigma = numpyro.sample("sigma", p["sigma"])
    nu = numpyro.sample("nu", p["nu"])
    # LogNormal(m, s) on X is Normal(m, s) on log X once the Jacobian of exp is counted
    numpyro.factor("prior_E", dist.Normal(p["E"].base_dist.loc, p["E"].base_dist.scale).log_prob(e))
    log_normal = lambda d, x: dist.Normal(d.base_dist.loc, d.base_dist.scale).log_prob(x)
    numpyro.factor("prior_A_c", log_normal(p["A_c"], a - alpha * cN))
    numpyro.factor("prior_B_c", log_normal(p["B_c"], b - beta * cD))
    mu = jnp.logaddexp(jnp.logaddexp(a - alpha * logN, b - beta * logD), e)
    numpyro.deterministic("E", jnp.exp(e))
    numpyro.deterministic("A", jnp.exp(a))
    numpyro.deterministic("B", jnp.exp(b))
    with numpyro.plate("point", logN.shape[0]):
        numpyro.sample("log_loss", dist.StudentT(nu, mu, sigma), obs=log_loss)


def _numpyro_runner(name):
    from numpyro.infer import MCMC, NUTS

    from bayes_scaling import posterior as nuts
    from bayes_scaling.laws import Chinchilla

    uncentred = "uncentred" in name
    model = _uncentred_model if uncentred else nuts.model
    kernel = NUTS(model, dense_mass="dense" in name)  # numpyro defaults otherwise (target acceptance 0.8)
    mcmc = MCMC(kernel, num_warmup=WARMUP, num_samples=SAMPLES, num_chains=CHAINS, chain_method="vectorized",
                progress_bar=False, jit_model_args=True)

    def run(key, ds):
        import numpy as np

        logN, logD, logL = ds.logs()
        args = (logN, logD, logL) if uncentred else (ds.log_inputs(Chinchilla), logL)
        mcmc.run(key, *args, extra_fields=("diverging", "num_steps"))
        s = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
        ex = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
        law = Chinchilla(E=s["E"], A=s["A"], B=s["B"], alpha=s["alpha"], beta=s["beta"])
        steps = ex["num_steps"]
        stats = {"diverging": ex["diverging"], "tree_depth": np.floor(np.log2(np.maximum(steps, 1))) + 1}
        d = nuts.diagnose(law, s["sigma"], s["nu"], stats)
        return law, d, float(steps.mean()), None

    return run


def _engine_runner(name):
    from bayes_scaling import posterior as nuts

    lik = "normal" if name.endswith("normal") else "student-t"

    geometry = "level" if "level" in name else "centred"

    def run(key, ds):
        r = nuts.sample(key, ds, chains=CHAINS, warmup=WARMUP, samples=SAMPLES, likelihood=lik,
                        dense_mass="dense" in name, geometry=geometry, warn=False)
        return r.law, r.diagnostics, r.config["steps_per_draw"], r.config["warmup_steps_per_draw"]

    return run


def one(name):
    """Run one variant twice in this (fresh) process; print a JSON line."""
    import jax
    import numpy as np
    from _common import epoch_data

    ds = epoch_data()
    run = _engine_runner(name) if name.startswith("engine") else _numpyro_runner(name)
    out = {"variant": name}
    for tag, seed in (("first", 0), ("second", 1)):
        c0 = os.times()
        t0 = time.perf_counter()
        law, d, steps, warm_steps = run(jax.random.key(seed), ds)
        wall = time.perf_counter() - t0
        c1 = os.times()
        out[tag] = {
            "wall_s": wall,
            "cpu_s": (c1.user - c0.user) + (c1.system - c0.system),
            "max_rhat": d["max_rhat"],
            "min_ess_bulk": d["min_ess_bulk"],
            "min_ess_tail": d["min_ess_tail"],
            "divergences": d["divergences"],
            "tree_depth_hits": d["tree_depth_hits"],
            "converged": d["converged"],
            "steps_per_draw": steps,
            "warmup_steps_per_draw": warm_steps,
            "ess_per_s": d["min_ess_bulk"] / wall,
            "medians": {k: float(np.median(np.asarray(getattr(law, k)))) for k in ("E", "alpha", "beta")},
        }
    out["compile_s_est"] = out["first"]["wall_s"] - out["second"]["wall_s"]
    print(json.dumps(out))


def cli_runs():
    """The CLI end to end, fresh processes, empty then warm persistent compilation cache."""
    from _common import SHARED

    csv = SHARED / "epoch_chinchilla" / "svg_extracted_data.csv"
    cmd = [sys.executable, "-m", "bayes_scaling.cli", "fit", str(csv), "--method", "nuts",
           "--drop-top-loss", "5", "--json"]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, XDG_CACHE_HOME=cache)
        for tag in ("empty cache", "warm cache"):
            t0 = time.perf_counter()
            r0 = os.times()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            r1 = os.times()
            res = json.loads(proc.stdout)
            rows.append({"cache": tag, "wall_s": time.perf_counter() - t0,
                         "cpu_s": (r1.children_user - r0.children_user)
                         + (r1.children_system - r0.children_system),
                         "converged": res["diagnostics"]["converged"],
                         "min_ess_bulk": res["diagnostics"]["min_ess_bulk"]})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--only", nargs="+", choices=VARIANTS)
    ap.add_argument("--skip-cli", action="store_true")
    args = ap.parse_args()
    if args.one:
        return one(args.one)

    from _common import table, write_json

    results = []
    for name in args.only or VARIANTS:
        proc = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(f"variant {name} failed")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(res)
        f = res["first"]
        print(f"{name}: first {f['wall_s']:.1f} s, min ESS {f['min_ess_bulk']:.0f}, "
              f"{f['steps_per_draw']:.1f} steps/draw", flush=True)
    base = next((r for r in results if r["variant"] == "numpyro-uncentred-diag"), None)
    rows = []
    for r in results:
        f, s = r["first"], r["second"]
        ratio = f"{f['ess_per_s'] / base['first']['ess_per_s']:.1f}x" if base else "-"
        rows.append([
            r["variant"], f"{f['wall_s']:.2f}", f"{f['cpu_s']:.2f}", f"{s['wall_s']:.2f}",
            f"{s['cpu_s']:.2f}",
            f"{f['steps_per_draw']:.1f}",
            "-" if f["warmup_steps_per_draw"] is None else f"{f['warmup_steps_per_draw']:.1f}",
            f"{f['max_rhat']:.4f}", f"{f['min_ess_bulk']:.0f}", f"{f['min_ess_tail']:.0f}",
            f"{f['divergences']}",
            f"{f['ess_per_s']:.0f}", f"{s['ess_per_s']:.0f}", ratio,
            f"{f['medians']['E']:.4f}/{f['medians']['alpha']:.4f}/{f['medians']['beta']:.4f}",
        ])
    headers = ["variant", "wall 1st (s)", "cpu 1st (s)", "wall 2nd (s)", "cpu 2nd (s)", "steps/draw",
               "warmup steps/draw", "max R-hat", "min ESS bulk", "min ESS tail", "div", "ESS/s 1st",
               "ESS/s 2nd",
               "vs baseline (1st)", "median E/alpha/beta"]
    print(table(rows, headers))
    cli = [] if args.skip_cli else cli_runs()
    for c in cli:
        print(f"CLI fit --method nuts --json, {c['cache']}: wall {c['wall_s']:.2f} s, "
              f"cpu {c['cpu_s']:.2f} s, "
              f"converged {c['converged']}, min ESS {c['min_ess_bulk']:.0f}")
    path = write_json("bench_nuts", {"chains": CHAINS, "warmup": WARMUP, "samples": SAMPLES,
                                     "variants": results, "cli": cli})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
