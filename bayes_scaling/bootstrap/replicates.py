"""The traceable core: every replicate's resample and multi-start fit in one jit+vmap program."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..fitting import multistart
from .resample import resample

__all__ = ["ATOL", "MAX_STEPS", "POLISH", "RTOL", "SCREEN_STEPS", "ReplicateFits", "bootstrap_fits",
           "replicate_fits"]

# Per-replicate optimiser settings, measured on Epoch's 240 points (benchmarks/bench_bootstrap.py):
# the starts are ranked by their objective on the replicate's data (no screening steps) and the best
# POLISH run BFGS to convergence. rtol 1e-8 moves no replicate optimum by more than 1e-4 in any
# coordinate (0.02% of a bootstrap SE) against rtol 1e-10, and no lane out of 4,096 needed more than
# 93 steps, while at 1e-9 and 1e-10 about 2 in 1,000 lanes creep along a flat valley for thousands of
# steps (and in lock-step vmap every lane of a chunk waits for the slowest).
SCREEN_STEPS = 0
POLISH = 1
MAX_STEPS = 400
RTOL = 1e-8
ATOL = 1e-10


class ReplicateFits(NamedTuple):
    """Per-replicate output of the traceable core (leading axis: replicate).

    Attributes:
        x: (R, p) unconstrained optimum of each replicate (the spec's ``unconstrained_names``).
        objective: (R,) summed weighted Huber objective at ``x`` on the resampled data.
        converged: (R,) whether the best polished start converged with a finite objective.
        sigma: (R,) residual sd of log loss of the replicate's fit on its resampled data,
            sqrt(sum_i w_i r_i^2 / (sum_i w_i - p)) (p fitted, i.e. free, coordinates).
    """

    x: jax.Array
    objective: jax.Array
    converged: jax.Array
    sigma: jax.Array


def _one_replicate(key, logX, logL, mask, starts, groups, center, *, law, scheme, delta, loss,
                   screen_steps, polish, max_steps, rtol, atol):
    """Resample with ``key`` and fit: one replicate (written for one; vmapped by the callers)."""
    w, y = resample(key, logX, logL, mask, law=law, scheme=scheme, groups=groups, center=center)
    res = multistart(starts, logX, y, w, delta, law=law, loss=loss, screen_steps=screen_steps,
                     polish=polish, max_steps=max_steps, rtol=rtol, atol=atol)
    r = law.log_loss_unconstrained(res.x, *logX) - y
    dof = jnp.maximum(jnp.sum(w) - starts.shape[1], 1.0)
    sigma = jnp.sqrt(jnp.sum(w * r * r) / dof)
    ok = res.converged & jnp.isfinite(res.objective) & jnp.all(jnp.isfinite(res.x)) & jnp.isfinite(sigma)
    return ReplicateFits(x=res.x, objective=res.objective, converged=ok, sigma=sigma)


_STATIC = ("law", "scheme", "loss", "screen_steps", "polish", "max_steps", "rtol", "atol")


def replicate_fits(key, indices, logX, logL, mask, starts, groups=None, center=None, *, law,
                   scheme="rows", delta=1e-3, loss="huber", screen_steps=SCREEN_STEPS, polish=POLISH,
                   max_steps=MAX_STEPS, rtol=RTOL, atol=ATOL):
    """Fits of the replicates with global indices ``indices`` (traceable; not jitted itself).

    Replicate ``i`` resamples with ``jax.random.fold_in(key, i)``. See :func:`bootstrap_fits`.
    """
    if scheme == "residual" and center is None:
        center = multistart(starts, logX, logL, mask, delta, law=law, loss=loss, screen_steps=screen_steps,
                            polish=polish, max_steps=max_steps, rtol=rtol, atol=atol).x
    one = partial(_one_replicate, law=law, scheme=scheme, delta=delta, loss=loss,
                  screen_steps=screen_steps, polish=polish, max_steps=max_steps, rtol=rtol, atol=atol)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(indices, dtype=jnp.uint32))
    return jax.vmap(one, in_axes=(0, None, None, None, None, None, None))(
        keys, logX, logL, mask, starts, groups, center)


@partial(jax.jit, static_argnames=("n_replicates",) + _STATIC)
def bootstrap_fits(key, logX, logL, mask, starts, groups=None, center=None, *, law, n_replicates,
                   first_index=0, scheme="rows", delta=1e-3, loss="huber", screen_steps=SCREEN_STEPS,
                   polish=POLISH, max_steps=MAX_STEPS, rtol=RTOL, atol=ATOL):
    """Resample and fit ``n_replicates`` replicates in one traceable program (jit- and vmap-able).

    Everything but the static settings may be traced, so a fit-region sweep can ``jax.vmap`` this
    over many masks (and keys) in one compiled program. Nothing is checked here: validate on the host
    (:func:`bootstrap` does) and read ``converged``.

    Args:
        key: PRNG key; replicate i uses ``jax.random.fold_in(key, first_index + i)``.
        logX: (k, n) logs of the law's inputs (``data.log_inputs(law)``); logL: (n,) log loss.
        mask: (n,) 0/1 floats selecting the rows of the dataset (all ones for the whole data).
        starts: (S, p) starts shared by all replicates (e.g. :func:`default_starts`).
        groups: (n,) int32 model-size ids in [0, n) for scheme "models" (:func:`model_groups`).
        center: (p,) optimum of the masked data for scheme "residual"; when None it is fitted here
            from ``starts`` on the masked data.
        law: the law spec (static): a Law subclass or a Constrained one.
        n_replicates: number of replicates (static).
        first_index: global index of the first replicate.
        scheme: "rows", "models" or "residual" (see :func:`resample`).
        delta, loss: the fit objective (Huber delta on log loss).
        screen_steps, polish, max_steps, rtol, atol: per-replicate optimiser settings
            (:func:`~bayes_scaling.fitting.multistart`).

    Returns:
        :class:`ReplicateFits` (x (R, p), objective (R,), converged (R,), sigma (R,)); a 4-tuple.

    Examples:
        >>> import jax, jax.numpy as jnp, bayes_scaling as bs
        >>> from bayes_scaling.bootstrap import bootstrap_fits, default_starts
        >>> data = bs.example_data()
        >>> law = bs.Chinchilla
        >>> starts = jnp.asarray(default_starts(bs.fit(data).x, law=law))
        >>> out = bootstrap_fits(jax.random.key(0), data.log_inputs(law), jnp.log(data.loss),
        ...                      jnp.ones(data.n), starts, law=law, n_replicates=8)
        >>> out.x.shape
        (8, 5)
    """
    idx = first_index + jnp.arange(n_replicates)
    return replicate_fits(key, idx, logX, logL, mask, starts, groups, center, law=law, scheme=scheme,
                          delta=delta, loss=loss, screen_steps=screen_steps, polish=polish,
                          max_steps=max_steps, rtol=rtol, atol=atol)


@partial(jax.jit, static_argnames=_STATIC)
def restart_fits(key, indices, x0, logX, logL, mask, groups=None, center=None, *, law, scheme="rows",
                 delta=1e-3, loss="huber", screen_steps=SCREEN_STEPS, polish=POLISH, max_steps=MAX_STEPS,
                 rtol=RTOL, atol=ATOL):
    """Refit replicates ``indices`` (same keys, same resamples) each from its own start ``x0[i]``.

    The batched restart of replicates whose BFGS run stopped at ``max_steps``: a fresh Hessian
    estimate from where each stopped. ``x0`` is (R, p); jitted once per settings and R.
    """
    one = partial(_one_replicate, law=law, scheme=scheme, delta=delta, loss=loss,
                  screen_steps=0, polish=1, max_steps=max_steps, rtol=rtol, atol=atol)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(indices, dtype=jnp.uint32))
    return jax.vmap(lambda k, s: one(k, logX, logL, mask, s[None], groups, center))(keys, x0)
