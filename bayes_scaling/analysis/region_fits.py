"""Fit every region (a 0/1 mask over one dataset) with one method, as one compiled program.

* ``"point"``: :func:`fit_masks` is ``jax.vmap`` of the foundation's traceable multi-start fit over
  masks, compiled once per (number of regions, number of points, number of starts) and law spec.
* ``"bootstrap"``: :func:`bootstrap_masks` vmaps :func:`bayes_scaling.bootstrap.bootstrap_fits` over
  masks, chunked over replicates with a traced first index (one compilation for every chunk).
* ``"nuts"``: regions one after another through one compiled sampler
  (:func:`bayes_scaling.posterior.sample` with the mask as likelihood weights; the data keep their
  shape), chains vectorised within each region.

:data:`_TRACES` counts the traces of the two jitted programs (a Python side effect that runs only
when JAX traces), so tests can check that a sweep compiles once.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..data import Dataset
from ..fitting import POINT_CHUNK, fit, multistart
from ..laws import resolve

__all__ = ["RegionFits", "fit_regions", "fit_masks", "bootstrap_masks", "region_starts", "BOOTSTRAP_LANES",
           "BOOTSTRAP_POINTS"]

_TRACES = {"fit_masks": 0, "bootstrap_masks": 0}

# Lanes (regions x replicates x starts) per compiled bootstrap call: bounds memory (each lane holds a
# BFGS state and (n,) temporaries: about 16384 x 240 x 8 bytes = 31 MB per temporary on Epoch's data)
# while keeping each call large enough to amortise dispatch (20 regions x 200 replicates x 11 starts
# run as 3 calls).
BOOTSTRAP_LANES = 16384
# ... and regions x replicates x starts x chunk points (the objective is summed over chunks of
# POINT_CHUNK points) or regions x replicates x points, whichever is larger, per call: memory stays
# bounded on large data (about 80 bytes per unit: 2^23 is 0.7 GB). On Epoch's 240 points it allows
# 34,952 lanes, more than BOOTSTRAP_LANES, so their calls are unchanged.
BOOTSTRAP_POINTS = 1 << 23


class RegionFits(NamedTuple):
    """Per-region fits: a law at leading shape (M, ...), noise scales, and per-region status dicts.

    Attributes:
        law: the law pytree; leaves (M,) for point fits, (M, R) for bootstrap replicates,
            (M, chain, draw) for posterior draws.
        sigma: noise sd on log loss with the law's shape, or ``None`` (point fits).
        nu: Student-t degrees of freedom with the law's shape, or ``None``.
        valid: boolean mask of usable samples (failed bootstrap replicates are False), or ``None``.
        info: one dict per region (convergence, failed replicates, diagnostics).
        method: "point", "bootstrap" or "nuts".
        likelihood: the NUTS likelihood ("student-t" or "normal"), else ``None``.
        spec: the fitted law spec.
        x: the point fits' optima (M, p) in the spec's unconstrained coordinates, else ``None``.
    """

    law: object
    sigma: np.ndarray | None = None
    nu: np.ndarray | None = None
    valid: np.ndarray | None = None
    info: Sequence[dict] = ()
    method: str = "point"
    likelihood: str | None = None
    spec: object = None
    x: np.ndarray | None = None

    def region(self, i):
        """The law (and sigma, nu) of region ``i``, valid samples only (flattened)."""
        take = lambda x: None if x is None else np.asarray(x)[i]  # noqa: E731
        law = jax.tree_util.tree_map(lambda x: np.asarray(x)[i], self.law)
        sigma, nu, valid = take(self.sigma), take(self.nu), take(self.valid)
        if self.method == "point":
            return law, sigma, nu
        flat = lambda x: None if x is None else np.reshape(x, (-1,))  # noqa: E731
        law = jax.tree_util.tree_map(flat, law)
        sigma, nu = flat(sigma), flat(nu)
        if valid is not None:
            keep = np.reshape(valid, (-1,))
            law = jax.tree_util.tree_map(lambda x: x[keep], law)
            sigma = None if sigma is None else sigma[keep]
            nu = None if nu is None else nu[keep]
        return law, sigma, nu


# ------------------------------------------------------------------------------------- starts


def region_starts(data: Dataset, *, loss: str = "huber", delta: float = 1e-3, law="chinchilla",
                  full_fit=None) -> np.ndarray:
    """Starts for region point fits: the full-data optimum, two jittered copies, the coarse grid.

    :func:`bayes_scaling.bootstrap.default_starts` of the full-data optimum (the law's start grid:
    Hoffmann's 4,500 starts for Chinchilla) followed by the law's 8-point ``coarse_grid()`` (11
    starts, screened for 20 BFGS steps, the best 2 polished; :func:`fit_masks`). On Epoch's data,
    over 100 regions (20 each of min-compute, max-compute, min-params, drop-smallest-models and D/N
    ranges), every region's objective agrees with a 4,500-start, 32-polish fit to 1e-14 relative, at
    a small fraction of its cost; polishing 8 instead of 2 changes no optimum and costs 30x more run
    time (benchmarks/bench_sensitivity.py notes), because in a lock-step vmap every lane waits for
    the slowest polish (tests/test_sensitivity.py checks three min-compute regions). The grid guards
    a region whose optimum left the full-data basin.
    """
    from ..bootstrap import default_starts

    spec = resolve(law)
    if full_fit is None:
        full_fit = fit(data, law=spec, loss=loss, delta=delta, warn=False)
    return np.concatenate([default_starts(np.asarray(full_fit.x), law=spec),
                           np.asarray(spec.coarse_grid(), dtype=np.float64)])


# ------------------------------------------------------------------------------------- point fits


@partial(jax.jit, static_argnames=("law", "loss", "screen_steps", "polish", "max_steps"))
def fit_masks(starts, logX, logL, masks, delta=1e-3, *, law, loss="huber", screen_steps=20, polish=2,
              max_steps=2000):
    """Multi-start point fits of every region in one compiled program.

    ``jax.vmap`` of :func:`bayes_scaling.fitting.multistart` over the rows of ``masks`` (M, n): each
    region is the full dataset with 0/1 weights. Compiled once per (M, n, number of starts), law
    spec and static options; a sweep with new cut-off values of the same count reuses the program.

    Args:
        starts: (S, p) unconstrained starts.
        logX: (k, n) logs of the law's inputs (:meth:`~bayes_scaling.data.Dataset.log_inputs`).
        logL: (n,) log loss.
        masks: (M, n) 0/1 float weights, one row per region.
        delta: Huber delta.
        law: the law spec (static; a Law subclass or a Constrained one).
        loss, screen_steps, polish, max_steps: :func:`~bayes_scaling.fitting.multistart` settings.

    Returns:
        A :class:`~bayes_scaling.fitting.FitResult` whose leaves have a leading (M,) axis.
    """
    _TRACES["fit_masks"] += 1  # Python side effect: runs once per trace (tests count compilations)
    one = partial(multistart, law=law, loss=loss, screen_steps=screen_steps, polish=polish,
                  max_steps=max_steps)
    return jax.vmap(lambda w: one(starts, logX, logL, w, delta))(masks)


def _fit_regions_point(data, masks, *, spec, loss, delta, starts, full_fit):
    if starts is None:
        starts = region_starts(data, loss=loss, delta=delta, law=spec, full_fit=full_fit)
    starts = np.asarray(starts, dtype=np.float64)
    p = len(spec.unconstrained_names)
    if starts.ndim != 2 or starts.shape[1] != p:
        raise ValueError(f"starts must have shape (S, {p}) in {spec.unconstrained_names}; got {starts.shape}")
    res = fit_masks(jnp.asarray(starts), data.log_inputs(spec), jnp.log(data.loss),
                    jnp.asarray(masks, dtype=jnp.float64), delta, law=spec, loss=loss)
    conv, bound, obj = (np.asarray(a) for a in (res.converged, res.on_bound, res.objective))
    info = [{"converged": bool(c), "on_bound": bool(b), "objective": float(o)}
            for c, b, o in zip(conv, bound, obj)]
    law_np = jax.tree_util.tree_map(np.asarray, res.law)
    return RegionFits(law_np, info=info, method="point", spec=spec, x=np.asarray(res.x))


# ------------------------------------------------------------------------------------- bootstrap


@partial(jax.jit, static_argnames=("law", "n_replicates", "scheme", "loss"))
def bootstrap_masks(key, logX, logL, masks, starts, groups, centers, first_index, delta=1e-3, *, law,
                    n_replicates, scheme="rows", loss="huber"):
    """Bootstrap replicates ``first_index .. first_index + n_replicates - 1`` of every region at once.

    ``jax.vmap`` over regions (``masks`` (M, n), per-region ``starts`` (M, S, p) and ``centers``
    (M, p)) of :func:`bayes_scaling.bootstrap.bootstrap_fits`. Every region uses the same ``key``:
    replicate i of each region resamples with ``fold_in(key, i)`` (common random numbers across
    regions; a region equal to the whole data reproduces :func:`bayes_scaling.bootstrap.bootstrap`
    with the same starts). ``first_index`` is traced, so every chunk reuses one compilation.

    Returns:
        :class:`~bayes_scaling.bootstrap.ReplicateFits` with leaves (M, n_replicates, ...).
    """
    from ..bootstrap import bootstrap_fits

    _TRACES["bootstrap_masks"] += 1  # Python side effect: once per trace

    def one(mask, st, center):
        return bootstrap_fits(key, logX, logL, mask, st, groups, center, law=law, n_replicates=n_replicates,
                              first_index=first_index, scheme=scheme, delta=delta, loss=loss)

    return jax.vmap(one)(masks, starts, centers)


def _chunking(R, M, S, chunk_size, n_points=0):
    if chunk_size is None:
        # Lanes and, on many points, point evaluations per call stay bounded (BOOTSTRAP_POINTS).
        points = max(S * min(n_points, POINT_CHUNK), n_points)
        n_chunks = max(-(-R * M * S // BOOTSTRAP_LANES), -(-R // max(1, BOOTSTRAP_POINTS // max(1, M * points))))
        chunk = -(-R // n_chunks)  # equal chunks: the last one wastes less than one replicate per chunk
    else:
        chunk = max(1, min(R, int(chunk_size)))
    return chunk, -(-R // chunk)


def _fit_regions_bootstrap(data, masks, *, spec, key, replicates, loss, delta, scheme, full_fit, chunk_size):
    from ..bootstrap import SCHEMES, default_starts, model_groups
    from ..bootstrap.driver import finite_laws

    if scheme not in SCHEMES:
        raise ValueError(f"unknown bootstrap scheme {scheme!r}; expected one of {SCHEMES}")
    if isinstance(replicates, bool) or int(replicates) < 1:
        raise ValueError(f"replicates must be an integer >= 1; got {replicates!r}")
    R = int(replicates)
    point = _fit_regions_point(data, masks, spec=spec, loss=loss, delta=delta, starts=None, full_fit=full_fit)
    centers = point.x  # (M, p) region optima
    # Each region's replicates start as bootstrap.bootstrap's do: at the region's optimum plus the
    # jittered copies of default_starts.
    starts = np.stack([default_starts(c, law=spec) for c in centers])
    chunk, n_chunks = _chunking(R, starts.shape[0], starts.shape[1], chunk_size, n_points=data.n)
    logX, logL = data.log_inputs(spec), jnp.log(data.loss)
    groups = jnp.asarray(model_groups(data.N), dtype=jnp.int32)
    args = (jnp.asarray(masks, dtype=jnp.float64), jnp.asarray(starts), groups, jnp.asarray(centers))
    outs = []
    for c in range(n_chunks):
        out = bootstrap_masks(key, logX, logL, *args, c * chunk, delta, law=spec, n_replicates=chunk,
                              scheme=scheme, loss=loss)
        outs.append(jax.tree_util.tree_map(np.asarray, out))
    x = np.concatenate([o.x for o in outs], axis=1)[:, :R]
    conv = np.concatenate([o.converged for o in outs], axis=1)[:, :R].astype(bool) & finite_laws(spec, x)
    sigma = np.concatenate([o.sigma for o in outs], axis=1)[:, :R]
    lo, hi = spec.plausible_bounds()
    on_bound = np.any((x <= lo) | (x >= hi), axis=-1) & conv
    law_np = jax.tree_util.tree_map(np.asarray, spec.from_unconstrained(jnp.asarray(x)))
    info = [{"replicates": R, "failed": int(R - conv[i].sum()), "on_bound": int(on_bound[i].sum()),
             "point_converged": p["converged"]} for i, p in enumerate(point.info)]
    return RegionFits(law_np, sigma=sigma, valid=conv, info=info, method="bootstrap", spec=spec)


# ------------------------------------------------------------------------------------- nuts

_NUTS_DIAGNOSTICS = ("converged", "max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "tree_depth_hits")


def _fit_regions_nuts(data, masks, *, spec, key, chains, warmup, samples, likelihood):
    """NUTS on every region: :func:`bayes_scaling.posterior.sample` with the region mask as weights.

    The data keep their shape and a region enters as 0/1 likelihood weights, so every region runs
    through the *same* compiled sampler (the posterior caches it per configuration): one
    compilation, regions one after another, chains vectorised within each region. (On a CPU,
    vmapping the sampler over regions would run their chains in lock-step, each NUTS iteration as
    deep as the deepest tree of any region, for little gain.) Region ``i`` uses key
    ``split(key, M)[i]``; each region's diagnostics are kept.
    """
    from ..posterior import sample

    M = masks.shape[0]
    keys = jax.random.split(key, M)
    results = [sample(keys[i], data, law=spec, chains=chains, warmup=warmup, samples=samples,
                      likelihood=likelihood, weights=masks[i].astype(np.float64), warn=False)
               for i in range(M)]
    law = jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *[r.law for r in results])
    sigma = np.stack([np.asarray(r.sigma) for r in results])
    nu = None if results[0].nu is None else np.stack([np.asarray(r.nu) for r in results])
    info = [{k: r.diagnostics[k] for k in _NUTS_DIAGNOSTICS if k in r.diagnostics} for r in results]
    return RegionFits(law, sigma=sigma, nu=nu, info=info, method="nuts", likelihood=likelihood, spec=spec)


# ------------------------------------------------------------------------------------- dispatch


def _require_key(key, method):
    from ..checks import check_key

    if key is None:
        raise ValueError(f"method={method!r} needs a PRNG key: pass key=jax.random.key(seed)")
    return check_key(key)


def fit_regions(data: Dataset, masks, *, method: str = "point", key=None, replicates: int = 200,
                law="chinchilla", loss: str = "huber", delta: float = 1e-3, starts=None,
                scheme: str = "rows", chains: int = 4, warmup: int = 1000, samples: int = 1000,
                likelihood: str = "student-t", full_fit=None, chunk_size: int | None = None) -> RegionFits:
    """Fit every region (row of ``masks``) with one method, as one vectorised program where possible.

    Args:
        data: the full dataset (regions are 0/1 masks over its rows).
        masks: (M, n) booleans; each row must pass :func:`~bayes_scaling.analysis.check_regions`.
        method: "point" (:func:`fit_masks`), "bootstrap" (:func:`bootstrap_masks`: the bootstrap
            core vmapped over masks) or "nuts" (regions in turn through one compiled sampler).
        key: PRNG key (bootstrap, nuts).
        replicates: bootstrap replicates per region.
        law: the law spec: a name (``"chinchilla"``), a Law subclass or a Constrained one.
        loss, delta: the point-fit objective (the bootstrap uses the same).
        starts: (S, p) starts for the point fits; default :func:`region_starts`.
        scheme: bootstrap resampling scheme.
        chains, warmup, samples, likelihood: NUTS settings.
        full_fit: an existing full-data :class:`~bayes_scaling.fitting.FitResult` to seed the starts.
        chunk_size: bootstrap replicates per compiled call (all regions at once); default keeps
            regions x replicates x starts at most :data:`BOOTSTRAP_LANES` lanes per call, and on many
            points at most :data:`BOOTSTRAP_POINTS` point evaluations.

    Returns:
        A :class:`RegionFits`.
    """
    spec = resolve(law)
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 2 or masks.shape[1] != data.n:
        raise ValueError(f"masks must have shape (regions, {data.n}); got {masks.shape}")
    if method == "point":
        return _fit_regions_point(data, masks, spec=spec, loss=loss, delta=delta, starts=starts,
                                  full_fit=full_fit)
    if method == "bootstrap":
        return _fit_regions_bootstrap(data, masks, spec=spec, key=_require_key(key, method),
                                      replicates=replicates, loss=loss, delta=delta, scheme=scheme,
                                      full_fit=full_fit, chunk_size=chunk_size)
    if method == "nuts":
        return _fit_regions_nuts(data, masks, spec=spec, key=_require_key(key, method), chains=chains,
                                 warmup=warmup, samples=samples, likelihood=likelihood)
    raise ValueError(f"unknown method {method!r}; expected 'point', 'bootstrap' or 'nuts'")
