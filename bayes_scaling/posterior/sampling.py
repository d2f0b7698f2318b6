"""``sample``: the posterior of a law by NUTS, in named steps, and its result as plain data.

Steps of :func:`sample`: validate the arguments on the host (:func:`_validate`), resolve the priors
and the geometry, fetch the compiled program for this configuration
(:func:`~bayes_scaling.posterior.program.compiled`, which builds the potential), run it
(:func:`_run`), and finish: keep the post-warmup draws, rebuild the law, diagnose
(:func:`_finish`). ``backend="numpyro"`` runs numpyro's own NUTS on the same model instead.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_int, check_key
from ..data import DataError, Dataset
from ..laws import Constrained, describe, form_of, free_names, resolve
from . import engine, program
from .diagnostics import diagnose, warn_if_unconverged
from .numpyro_model import center_of, check_likelihood, describe_priors, model, resolve_priors
from .potential import use_level

__all__ = ["PosteriorResult", "sample", "spec_of"]

_EXTRA_FIELDS = ("diverging", "num_steps", "accept_prob", "energy", "potential_energy",
                 "adapt_state.step_size")


class PosteriorResult(NamedTuple):
    """Posterior draws as plain data.

    Attributes:
        law: the law (its form, e.g. :class:`~bayes_scaling.laws.Chinchilla`) with (chain, draw)
            leaves; fixed parameters of a constrained law hold their value at every draw.
        sigma: (chain, draw) noise sd on log loss.
        nu: (chain, draw) Student-t degrees of freedom, or None for Gaussian noise.
        diagnostics: dict with max_rhat, min_ess_bulk, min_ess_tail, divergences,
            tree_depth_hits, converged (bool), and per-parameter rhat / ess_bulk / ess_tail (the
            free parameters, derived quantities, sigma and nu).
        sample_stats: dict of (chain, draw) arrays (ArviZ names): diverging, tree_depth, n_steps,
            acceptance_rate, energy, lp, step_size.
        samples: every model site (the law's sites, sigma, [nu], and each law parameter that is
            not a site) as (chain, draw) arrays, for ``numpyro.infer.Predictive``.
        config: the settings (law spec, likelihood, priors description, chains, warmup, samples,
            dense_mass, center, backend, timing in seconds).
        weights: the per-point weights used, or None.
    """

    law: object
    sigma: np.ndarray
    nu: np.ndarray | None
    diagnostics: dict
    sample_stats: dict
    samples: dict
    config: dict
    weights: np.ndarray | None = None


def spec_of(result: PosteriorResult):
    """The law spec a result was sampled with: its law's form and the recorded constraints."""
    desc = result.config.get("law") or {}
    fixed, tied = desc.get("fixed") or {}, desc.get("tied") or {}
    form = type(result.law)
    return Constrained(form, fixed, tied) if (fixed or tied) else form


# ----------------------------------------------------------------------------------------------
# step 1: validate on the host


def _validate_weights(weights, n, spec):
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},) (one per data point); got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        raise ValueError(f"weights must be finite and >= 0; {bad.size} bad, first at index {bad[0]} "
                         f"(value {w[bad[0]]})")
    need = len(spec.sites()) + 1  # the law's sites and the noise sd
    if np.count_nonzero(w) < need:
        raise ValueError(f"weights select {np.count_nonzero(w)} points; the law needs at least {need}")
    return w


def _validate(data, spec, chains, warmup, samples, likelihood, weights, geometry, backend):
    """Check every argument before anything is compiled; returns the validated weights."""
    if not isinstance(data, Dataset):
        raise DataError(
            f"data must be a bayes_scaling Dataset (see bayes_scaling.load); got {type(data).__name__}")
    check_likelihood(likelihood)
    for name, v, lo in (("chains", chains, 1), ("warmup", warmup, 0), ("samples", samples, 1)):
        check_int(name, v, lo)
    if geometry not in ("level", "centred"):
        raise ValueError(f"geometry must be 'level' or 'centred'; got {geometry!r}")
    if backend not in ("jax", "numpyro"):
        raise ValueError(f"backend must be 'jax' or 'numpyro'; got {backend!r}")
    return _validate_weights(weights, data.n, spec)


# ----------------------------------------------------------------------------------------------
# the public entry point


def sample(key, data: Dataset, *, law="chinchilla", chains: int = 4, warmup: int = 1000, samples: int = 1000,
           likelihood: str = "student-t", priors=None, weights=None, progress: bool = False,
           dense_mass: bool = True, max_tree_depth: int = 10, target_accept: float = 0.9,
           backend: str = "jax", warn: bool = True, geometry: str = "level") -> PosteriorResult:
    """Sample the posterior of a law with NUTS.

    Each chain first searches for the posterior mode (BFGS) from its own start (the law's
    :meth:`~bayes_scaling.laws.Law.posterior_starts`); all chains then start at overdispersed draws
    from the Laplace approximation at the best mode and run NUTS with Stan's windowed adaptation.
    Chains run vectorized (``vmap``) in one compiled loop on one device, and are laid out over the
    local devices (one mesh axis) when there are several and their number divides ``chains``: the
    program and the keys are the same for any device count, so the draws agree in distribution (not
    bit for bit: XLA compiles the sharded program differently). The compiled program is cached per
    configuration and data size, so refitting costs no compilation.

    Args:
        key: JAX PRNG key.
        data: a :class:`~bayes_scaling.data.Dataset` holding the law's inputs.
        law: the law spec: a name (``"chinchilla"``), a :class:`~bayes_scaling.laws.Law` subclass
            or a :class:`~bayes_scaling.laws.Constrained` law (fixed parameters are not sampled,
            tied ones are copied).
        chains, warmup, samples: chains, warmup draws per chain, kept draws per chain.
        likelihood: ``"student-t"`` (default) or ``"normal"`` noise on log loss.
        priors: dict overriding some default priors (site -> numpyro distribution; see
            :func:`~bayes_scaling.posterior.default_priors`).
        weights: optional (n,) non-negative per-point weights (e.g. a 0/1 fit-region mask).
        progress: show a progress bar (tqdm), for interactive use.
        dense_mass: adapt a dense (default) or diagonal mass matrix.
        max_tree_depth, target_accept: NUTS settings (mean acceptance targeted in warmup).
        backend: ``"jax"`` (the built-in sampler, default) or ``"numpyro"`` (numpyro's ``MCMC``
            on the same model, chains vectorized, or parallel when there are enough devices;
            slower to compile, kept as a reference).
        warn: emit :class:`~bayes_scaling.posterior.ConvergenceWarning` when the diagnostics fail.
        geometry: ``"level"`` (default: the law's level coordinates when its fast path offers them,
            see :mod:`bayes_scaling.posterior`) or ``"centred"`` (the law's sites as they are).
            Custom priors the level coordinates do not accept use ``"centred"``.

    Returns:
        :class:`PosteriorResult`.

    Examples:
        >>> res = sample(jax.random.key(0), example_data(), warmup=300, samples=300)  # doctest: +SKIP
        >>> res.diagnostics["converged"]  # doctest: +SKIP
        True
    """
    check_key(key)
    check_int("max_tree_depth", max_tree_depth, 1)
    if not (isinstance(target_accept, (int, float, np.floating)) and 0 < target_accept < 1):
        raise ValueError(f"target_accept must be a number in (0, 1); got {target_accept!r}")
    spec = resolve(law)
    w = _validate(data, spec, chains, warmup, samples, likelihood, weights, geometry, backend)
    logX = data.log_inputs(spec)
    pri = resolve_priors(spec, priors, likelihood)
    if priors is not None:
        from .predictive import prior_predictive

        prior_predictive(jax.random.fold_in(key, 99), data, law=spec, num_samples=200, priors=priors,
                         likelihood=likelihood)
    settings = {"chains": int(chains), "warmup": int(warmup), "samples": int(samples),
                "dense_mass": bool(dense_mass), "max_tree_depth": int(max_tree_depth),
                "target_accept": float(target_accept)}
    wj = None if w is None else jnp.asarray(w)
    args = (logX, jnp.log(jnp.asarray(data.loss, dtype=jnp.float64)), wj)
    if backend == "numpyro":
        sites, stats, config = _run_numpyro(key, spec, args, pri, likelihood, settings, progress)
    else:
        sites, stats, config = _run(key, spec, args, pri, likelihood, settings, progress, geometry)
    config = {**_config(spec, likelihood, priors, settings, backend, logX, wj), **config}
    return _finish(spec, sites, stats, likelihood, config, w, warn, int(max_tree_depth))


# ----------------------------------------------------------------------------------------------
# steps 2-4: the compiled program (potential, cache, run)


def _run(key, spec, args, pri, likelihood, settings, progress, geometry):
    """The built-in engine: fetch (or compile) the program for this configuration and run it."""
    chains, warmup, samples = settings["chains"], settings["warmup"], settings["samples"]
    cfg = engine.ChainConfig(warmup=warmup, samples=samples, dense=settings["dense_mass"],
                             max_tree_depth=settings["max_tree_depth"],
                             target_accept=settings["target_accept"])
    ndev = jax.local_device_count()
    devices = ndev if (ndev > 1 and chains % ndev == 0) else 1
    level = use_level(spec, pri, geometry)
    frozen = program.FrozenPriors(pri)
    t0 = time.perf_counter()
    if progress and devices == 1:
        sites, stats, info, iters = program.run_with_progress(spec, likelihood, chains, cfg, level, frozen,
                                                              key, args)
    else:
        fn = program.compiled(spec, likelihood, chains, cfg, devices, level, frozen)
        sites, stats, info, iters = fn(key, *args)
    info = jax.tree_util.tree_map(np.asarray, info)
    if info["failed"].any():
        raise ValueError(
            f"NUTS could not start: {int(info['failed'].sum())} of {chains} chains found no point with a "
            "finite log posterior (check the data and priors)")
    sites = jax.tree_util.tree_map(np.asarray, sites)
    stats = jax.tree_util.tree_map(np.asarray, stats)
    elapsed = time.perf_counter() - t0
    keep = slice(warmup, warmup + samples)
    config = {
        "seconds": float(elapsed),
        "geometry": "level" if level else "centred",
        "laplace_init": bool(np.all(info["init_ok"])),
        "mode_search_iterations": int(np.max(info["opt_iters"])),
        "loop_iterations": int(iters),
        "warmup_steps_per_draw": float(np.mean(stats["n_steps"][:, :warmup])) if warmup else 0.0,
    }
    return {k: v[:, keep] for k, v in sites.items()}, {k: v[:, keep] for k, v in stats.items()}, config


def _run_numpyro(key, spec, args, pri, likelihood, settings, progress):
    """numpyro's MCMC on the same model (reference backend)."""
    from numpyro.infer import MCMC, NUTS

    from ..devices import chain_method

    logX, logL, wj = args
    kernel = NUTS(model, dense_mass=settings["dense_mass"], max_tree_depth=settings["max_tree_depth"],
                  target_accept_prob=settings["target_accept"])
    chains = settings["chains"]
    mcmc = MCMC(kernel, num_warmup=settings["warmup"], num_samples=settings["samples"], num_chains=chains,
                chain_method=chain_method(chains), progress_bar=progress)
    t0 = time.perf_counter()
    mcmc.run(key, logX, logL, law=spec, weights=wj, priors=pri, likelihood=likelihood,
             extra_fields=_EXTRA_FIELDS)
    sites = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    ex = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    elapsed = time.perf_counter() - t0
    n_steps = ex["num_steps"].astype(np.int64)
    stats = {
        "acceptance_rate": ex["accept_prob"],
        "n_steps": n_steps,
        "tree_depth": np.floor(np.log2(np.maximum(n_steps, 1))).astype(np.int64) + 1,
        "diverging": ex["diverging"],
        "energy": ex["energy"],
        "lp": -ex["potential_energy"],
        "step_size": ex["adapt_state.step_size"],
    }
    return sites, stats, {"seconds": float(elapsed)}


# ----------------------------------------------------------------------------------------------
# step 5: finish


def _config(spec, likelihood, priors, settings, backend, logX, wj) -> dict:
    center = np.asarray(center_of(logX, wj))
    return {
        "law": describe(spec),
        "likelihood": likelihood,
        "priors": describe_priors(priors, likelihood, law=spec),
        **settings,
        "center": [float(c) for c in center],
        "n_points": int(logX.shape[1]),
        "backend": backend,
    }


def _finish(spec, sites, stats, likelihood, config, w, warn, max_tree_depth):
    """The law from the draws (every parameter is a site or a deterministic site), diagnostics."""
    form = form_of(spec)
    law = form(**{name: sites[name] for name in form.names})
    nu = sites.get("nu") if likelihood == "student-t" else None
    diag = diagnose(law, sites["sigma"], nu, stats, spec=spec, max_tree_depth=max_tree_depth)
    config["steps_per_draw"] = float(np.mean(stats["n_steps"]))
    config["free_parameters"] = list(free_names(spec))
    res = PosteriorResult(law=law, sigma=sites["sigma"], nu=nu, diagnostics=diag, sample_stats=stats,
                          samples=sites, config=config, weights=w)
    if warn:
        warn_if_unconverged(diag, stacklevel=4)  # points at the caller of sample()
    return res
