"""A per-size random effect in the NUTS posterior (issue 11's "correlated errors", its NumPyro half), on top of
the default stacked-centre width factor, against the same posterior without it.

The issue's first candidate for honest extrapolation intervals is correlated errors: "runs of one model size
... share an offset (a random effect in the numpyro model; the cluster scheme in the bootstrap)". The cluster
bootstrap was measured and not adopted (benchmarks/RESULTS.md, "An eighth candidate"). This is the other half:

    log L_i = law(N_i, D_i) + u_g(i) + eps_i,   u_g = tau z_g,  z_g ~ N(0, 1),  tau ~ HalfNormal(0.1),

with the package's priors on the law, ``sigma`` and ``nu`` and its Student-t noise ``eps``; ``g`` is the model
size (:func:`bayes_scaling.bootstrap.groups.model_groups`). The offsets are projected to carry no level and no
linear trend in log N (``u = tau P z``, :func:`projector`): a free offset per size absorbs the law's N term, and
the posterior was not identified (430 leapfrog steps per draw, or 308 divergences in the centred form, on the
first development split). Non-centred (``z`` sampled).
Both posteriors (with the offsets: ``size-effect``; without: ``no-effect``, the package's posterior) are drawn
by the package's engine (:func:`bayes_scaling.posterior.engine.sample_chains`) in the law's level coordinates,
on the generic potential (the law's ``log_loss_from_logs`` and numpyro's prior terms), 4 chains x (500 +
500), dense metric, target acceptance 0.9, with the same key. The predictive at a held-out run draws the law,
the offset (the size's own ``tau z_g`` when the size is among the training sizes, a new ``tau N(0, 1)``
otherwise) and 8 Student-t noise draws per posterior draw; the estimate is the median of law plus offset.
Each design then has the default's treatment: its interval is widened by the stacked factor around the
stacked centre of its estimate (``learn_discrepancy`` of the training runs).

``--group budget`` gives the issue's other grouping, "runs of one budget share an offset": one offset per compute
budget (:func:`bayes_scaling.analysis.isoflop.budget_groups` of C = 6ND, a new budget where sorted C jumps by more
than 5%), projected to carry no level and no linear trend in log C (the budget's mean), the offset a held-out
run's budget had in training or a new one.

The rules that would make either the NUTS default were written down before any run (benchmarks/RESULTS.md, "A
ninth candidate" and "A tenth candidate"). Designs reported: ``exact-law`` and ``stacked-centre`` for each posterior.

Usage: python benchmarks/bench_size_effect.py [--group size|budget] [--parts dev curves far chinchilla kaplan]
           [--datasets 16] [--out NAME]
Writes benchmarks/out/bench_<group>_effect.json (or NAME.json).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.diagnostics import split_gelman_rubin
from _common import design_line, design_table, run_design_groups, write_json
from bench_interval_designs import design_groups, point_metrics

from bayes_scaling.analysis import backtest as bt
from bayes_scaling.analysis.isoflop import budget_groups
from bayes_scaling.bootstrap.groups import model_groups
from bayes_scaling.laws import resolve
from bayes_scaling.posterior import engine
from bayes_scaling.posterior.numpyro_model import center_of, noise, resolve_priors, site_names
from bayes_scaling.posterior.potential import _prior_terms, fast_path, starts
from bayes_scaling.prediction import learn_discrepancy
from bayes_scaling.prediction.discrepancy import widen

SPEC = resolve("chinchilla")
LIKELIHOOD = "student-t"
PRIORS = resolve_priors(SPEC, None, LIKELIHOOD)
NAMES = site_names(SPEC, LIKELIHOOD)
K = len(NAMES)
TAU_PRIOR = dist.HalfNormal(0.1)
CFG = engine.ChainConfig(warmup=500, samples=500, dense=True, target_accept=0.9)
CHAINS, NOISE_DRAWS = 4, 8
LEVELS = (0.5, 0.9)


def _potential(logX, logL, groups, P, effect: bool):
    """U(v) over [the law's level coordinates and noise sites (K), log tau, z_1..z_G] (or the first K alone)."""
    center = center_of(logX)
    from_level = fast_path(SPEC).from_level

    def U(v):
        lp, vals = _prior_terms(from_level(v[:K]), NAMES, PRIORS)
        mu = SPEC.from_sites(vals, center).log_loss_from_logs(*logX)
        if effect:
            log_tau, z = v[K], v[K + 1:]
            tau = jnp.exp(log_tau)
            lp = lp + TAU_PRIOR.log_prob(tau) + log_tau + jnp.sum(dist.Normal().log_prob(z))
            mu = mu + tau * (P @ z)[groups]
        return -(lp + jnp.sum(noise(mu, vals["sigma"], vals["nu"], LIKELIHOOD).log_prob(logL)))

    return U


def projector(log_sizes, counts) -> np.ndarray:
    """P = I - X (X'WX)^-1 X'W, X = [1, log N_g - mean], W = diag(counts): P z has no count-weighted level and
    no linear trend in log N, which the law's E and N term carry (a free offset per size absorbs the N term)."""
    X = np.stack([np.ones_like(log_sizes), log_sizes - log_sizes.mean()], axis=1)
    W = np.diag(np.asarray(counts, dtype=np.float64))
    return np.eye(log_sizes.size) - X @ np.linalg.solve(X.T @ W @ X, X.T @ W)


@partial(jax.jit, static_argnames=("effect",))
def _sample(key, logX, logL, groups, P, *, effect: bool):
    U = _potential(logX, logL, groups, P, effect)
    z0 = jax.vmap(fast_path(SPEC).to_level)(starts(SPEC, logX, logL, None, PRIORS, LIKELIHOOD))
    z0 = z0[jnp.arange(CHAINS) % z0.shape[0]]
    if effect:
        z0 = jnp.concatenate([z0, jnp.full((CHAINS, 1), jnp.log(0.01)), jnp.zeros((CHAINS, P.shape[0]))], axis=1)
    state, _ = engine.sample_chains(jax.random.split(key, CHAINS), z0, U, CFG)
    return state.out_z[:, CFG.warmup:], state.out_stats["diverging"][:, CFG.warmup:], state.failed


def _law_log_loss(v, center, logX):
    _, vals = _prior_terms(fast_path(SPEC).from_level(v[:K]), NAMES, PRIORS)
    return SPEC.from_sites(vals, center).log_loss_from_logs(*logX), vals["sigma"], vals["nu"]


def run_groups(kind: str, N, D):
    """(group id, log of the group's coordinate) per run: model sizes (log N), or compute budgets
    (:func:`bayes_scaling.analysis.isoflop.budget_groups` of 6ND, 5% gaps; log C)."""
    if kind == "size":
        return model_groups(N), np.log(N)
    C = 6.0 * N * D
    return budget_groups(C)[0], np.log(C)


def fit_and_predict(key, train, test_N, test_D, effect: bool, kind: str = "size") -> dict:
    """Exact-law bounds {level: (lo, hi, estimate)} at the held-out runs, and the run's diagnostics."""
    logX, logL = train.log_inputs(SPEC), jnp.log(jnp.asarray(train.loss))
    both, coord = run_groups(kind, np.concatenate([train.N, test_N]), np.concatenate([train.D, test_D]))
    g_train, g_test = both[:train.n], both[train.n:]
    sizes = np.unique(g_train)
    index = {g: i for i, g in enumerate(sizes)}
    groups = jnp.asarray([index[g] for g in g_train])
    counts = np.bincount(np.asarray(groups))
    # a size's runs share N (to 1e-4), so its first run's log N stands for it; a budget's C spread up to 5% apart
    pick = (lambda c: c[0]) if kind == "size" else np.mean
    log_sizes = np.array([pick(coord[:train.n][np.asarray(groups) == i]) for i in range(len(sizes))])
    P = projector(log_sizes, counts)
    draws, div, failed = _sample(key, logX, logL, groups, jnp.asarray(P), effect=effect)
    v = np.asarray(draws).reshape(-1, draws.shape[-1])
    center = center_of(logX)
    test_logX = jnp.asarray(np.log(np.stack([test_N, test_D])))
    mu, sigma, nu = jax.vmap(lambda x: _law_log_loss(x, center, test_logX))(jnp.asarray(v))
    mu, sigma, nu = np.asarray(mu), np.asarray(sigma), np.asarray(nu)
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1)))
    S, n = mu.shape
    offset = np.zeros((S, n))
    kept = np.asarray(draws)[..., :K + int(effect)]  # the law's and noise coordinates, and log tau
    out = {"divergences": int(np.asarray(div).sum()), "failed_chains": int(np.asarray(failed).sum()),
           "max_rhat": float(np.max(split_gelman_rubin(kept)))}
    if effect:
        tau = np.exp(v[:, K])
        z = v[:, K + 1:] @ P.T
        known = np.array([g in index for g in g_test])
        cols = np.array([index.get(g, 0) for g in g_test])
        offset = np.where(known[None], tau[:, None] * z[:, cols], tau[:, None] * rng.standard_normal((S, n)))
        out.update(tau_median=float(np.median(tau)), n_groups=len(sizes), known_test_groups=int(known.sum()),
                   tau_median_by_chain=np.median(np.exp(np.asarray(draws)[..., K]), axis=1).tolist())
    centre = mu + offset
    pred = centre[:, None, :] + sigma[:, None, None] * rng.standard_t(np.repeat(nu[:, None], NOISE_DRAWS, 1)[..., None],
                                                                        (S, NOISE_DRAWS, n))
    pred = pred.reshape(-1, n)
    est = np.exp(np.median(centre, axis=0))
    out["bounds"] = {lv: (np.exp(np.quantile(pred, (1 - lv) / 2, axis=0)), np.exp(np.quantile(pred, (1 + lv) / 2, axis=0)),
                          est) for lv in LEVELS}
    return out


def one_split(data, by, thr, seed, kind="size"):
    train_mask, _ = bt.holdout_masks(data, thr, by=by)
    tr, test = data.subset(train_mask), ~train_mask
    N, D, y = data.N[test], data.D[test], data.loss[test]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stacked = learn_discrepancy(tr, "chinchilla")
    res = {"n": int(y.size), "factor_stacked": stacked.factor, "weight": stacked.weight}
    for name, effect in (("no-effect", False), (f"{kind}-effect", True)):
        f = fit_and_predict(jax.random.key(seed), tr, N, D, effect, kind)
        b = f.pop("bounds")
        res[name] = f
        res[f"{name} exact-law"] = point_metrics(b, y)
        moved = {}
        for lv, (lo, hi, est) in b.items():
            m = stacked.centre(est, N, D)
            moved[lv] = (*widen(lo, hi, est, stacked.factor, m), m)
        res[f"{name} stacked-centre"] = point_metrics(moved, y)
    return res


RHAT_MAX = 1.01


def unreliable_fits(out: dict, posteriors) -> dict:
    """Per data group and posterior, the splits whose fit is not reliable: a failed chain, a divergence, or a
    split R-hat above 1.01 (over the law's and noise coordinates, and log tau)."""
    table = {}
    for title, g in out["groups"].items():
        for post in posteriors:
            bad = [r["split"] for r in g["splits"]
                   if r[post]["failed_chains"] or r[post]["divergences"] or not r[post]["max_rhat"] <= RHAT_MAX]
            table[f"{title} | {post}"] = {"unreliable": len(bad), "of": len(g["splits"]), "splits": bad}
    return table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", nargs="+", default=["dev", "curves", "chinchilla", "kaplan"])
    ap.add_argument("--datasets", type=int, default=16)
    ap.add_argument("--group", choices=["size", "budget"], default="size",
                    help="the runs that share an offset: one model size, or one compute budget (6ND within 5%%)")
    ap.add_argument("--out", default=None, help="output name (default bench_<group>_effect)")
    args = ap.parse_args()
    effect = f"{args.group}-effect"
    designs = tuple(f"{e} {d}" for e in ("no-effect", effect) for d in ("exact-law", "stacked-centre"))

    def describe(r):
        eff, ctl = r[effect], r["no-effect"]
        return (f"tau {eff['tau_median']:.4f} groups {eff['n_groups']} known {eff['known_test_groups']}/{r['n']} div "
                f"{ctl['divergences']}/{eff['divergences']} rhat {ctl['max_rhat']:.3f}/{eff['max_rhat']:.3f} "
                + design_line(r, designs))

    name = args.out or f"bench_{args.group}_effect"
    out = run_design_groups(design_groups(args.parts, args.datasets),
                            lambda i, label, make, by, thr: one_split(make(), by, thr, i, args.group),
                            designs, name, vars(args), describe)
    print(design_table(out["groups"]))
    # Unconverged fits are counted in the output and the exit code, not left to the per-split lines.
    out["unreliable_fits"] = unreliable_fits(out, ("no-effect", effect))
    write_json(name, out)
    print("\n| data | posterior | fits with a failed chain, a divergence or R-hat > 1.01 |\n|---|---|---|")
    for k, v in out["unreliable_fits"].items():
        print(f"| {k} | {v['unreliable']} of {v['of']} |")
    if any(v["unreliable"] for v in out["unreliable_fits"].values()):
        sys.exit("some fits did not converge (table above; splits listed in the JSON's unreliable_fits): read "
                 "their figures with that in mind")


if __name__ == "__main__":
    main()
