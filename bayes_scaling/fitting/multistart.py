"""Screen-then-polish multi-start minimisation, one jit+vmap program for every start."""

from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from .objective import objective

__all__ = [
    "FitResult",
    "multistart",
    "random_starts",
    "check",
    "STATUS_CONVERGED",
    "STATUS_MAX_STEPS",
    "STATUS_NONFINITE",
    "STATUS_SCREENED_OUT",
]

STATUS_CONVERGED = 0
STATUS_MAX_STEPS = 1
STATUS_NONFINITE = 2
STATUS_SCREENED_OUT = 3
STATUS_NAMES = {0: "converged", 1: "max_steps", 2: "nonfinite", 3: "screened_out"}


class FitResult(NamedTuple):
    """Result of a multi-start point fit.

    Attributes:
        law: the best start's law (scalar leaves), or one per batch entry for batched fits.
        objective: the best objective value.
        x: the best unconstrained vector (the law spec's ``unconstrained_names``).
        converged: whether the best start's polish converged.
        start_objective: each start's objective after screening / polishing, shape (starts,).
        start_status: each start's status code (``STATUS_NAMES``), shape (starts,).
        n_converged: number of starts that were polished to convergence.
        on_bound: whether the best point sits at or beyond the law's plausible bounds.
    """

    law: object
    objective: jax.Array
    x: jax.Array
    converged: jax.Array
    start_objective: jax.Array
    start_status: jax.Array
    n_converged: jax.Array
    on_bound: jax.Array


def _run_bfgs(x0, args, fn, max_steps, rtol, atol):
    solver = optx.BFGS(rtol=rtol, atol=atol)
    sol = optx.minimise(fn, solver, x0, args=args, max_steps=max_steps, throw=False)
    return sol.value, sol.result == optx.RESULTS.successful


@partial(
    jax.jit,
    static_argnames=("loss", "law", "screen_steps", "polish", "max_steps", "rtol", "atol"),
)
def multistart(
    starts,
    logX,
    logL,
    weights,
    delta=1e-3,
    *,
    law,
    loss="huber",
    screen_steps=10,
    polish=16,
    max_steps=2000,
    rtol=1e-10,
    atol=1e-12,
):
    """Screen-then-polish multi-start minimisation of :func:`objective`, fully traceable.

    All array arguments may be traced, so this vmaps over datasets (weights) for bootstrap and
    region sweeps. Returns a :class:`FitResult` with device arrays and no host-side checks.

    Args:
        starts: (S, p) unconstrained starting vectors.
        logX: (k, n) logs of the law's inputs; logL: (n,) log loss.
        weights: (n,) non-negative weights (multiplicities or a 0/1 mask).
        delta: Huber delta.
        law: the law spec (a Law subclass or a Constrained one; static).
        loss: 'huber', 'squared-log' or 'squared-raw'.
        screen_steps: BFGS steps every start takes before ranking (0 ranks the raw starts).
        polish: how many of the best screened points are run to convergence.
        max_steps: step limit for the polish.
        rtol, atol: optimistix BFGS tolerances for the polish.
    """
    fn = lambda x, args: objective(x, *args, law=law, loss=loss, delta=delta)  # noqa: E731
    args = (logX, logL, weights)
    n_starts = starts.shape[0]
    polish = min(polish, n_starts)

    if screen_steps > 0:
        screened, _ = jax.vmap(lambda s: _run_bfgs(s, args, fn, screen_steps, rtol, atol))(starts)
    else:
        screened = starts
    screen_obj = jax.vmap(lambda x: fn(x, args))(screened)
    screen_obj = jnp.where(jnp.isfinite(screen_obj), screen_obj, jnp.inf)

    _, top = jax.lax.top_k(-screen_obj, polish)
    polished, ok = jax.vmap(lambda s: _run_bfgs(s, args, fn, max_steps, rtol, atol))(screened[top])
    pol_obj = jax.vmap(lambda x: fn(x, args))(polished)
    finite = jnp.isfinite(pol_obj) & jnp.all(jnp.isfinite(polished), axis=-1)
    pol_obj = jnp.where(finite, pol_obj, jnp.inf)

    status_pol = jnp.where(finite, jnp.where(ok, STATUS_CONVERGED, STATUS_MAX_STEPS), STATUS_NONFINITE)
    start_status = jnp.full((n_starts,), STATUS_SCREENED_OUT, dtype=jnp.int32)
    start_status = jnp.where(jnp.isfinite(screen_obj), start_status, STATUS_NONFINITE)
    start_status = start_status.at[top].set(status_pol.astype(jnp.int32))
    start_obj = screen_obj.at[top].set(pol_obj)

    # Prefer a converged polish; fall back to the lowest objective when none converged.
    ranked = jnp.where(status_pol == STATUS_CONVERGED, pol_obj, jnp.inf)
    any_conv = jnp.any(status_pol == STATUS_CONVERGED)
    best = jnp.where(any_conv, jnp.argmin(ranked), jnp.argmin(pol_obj))
    x_best = polished[best]
    lo, hi = law.plausible_bounds()
    on_bound = jnp.any((x_best <= lo) | (x_best >= hi))
    return FitResult(
        law=law.from_unconstrained(x_best),
        objective=pol_obj[best],
        x=x_best,
        converged=status_pol[best] == STATUS_CONVERGED,
        start_objective=start_obj,
        start_status=start_status,
        n_converged=jnp.sum(status_pol == STATUS_CONVERGED),
        on_bound=on_bound,
    )


def random_starts(key, n, law):
    """``n`` uniform random starts over the box spanned by the law's start grid."""
    grid = law.start_grid()
    lo, hi = grid.min(axis=0), grid.max(axis=0)
    return jax.random.uniform(key, (n, grid.shape[1]), minval=lo, maxval=hi, dtype=jnp.float64)


def check(res: FitResult, law) -> None:
    """Warn on the host about a non-converged best start or an optimum on a bound."""
    if not bool(res.converged):
        warnings.warn(
            "the best start did not converge (BFGS stopped at its step limit or on non-finite "
            f"values); objective {float(res.objective):.6g}. Increase max_steps or polish.",
            RuntimeWarning,
            stacklevel=3,
        )
    if bool(res.on_bound):
        warnings.warn(
            f"the optimum sits on a plausibility bound: {dict(zip(law.unconstrained_names, np.round(np.asarray(res.x), 4).tolist()))}; "
            "the law may be degenerate for this data (e.g. an exponent at 0).",
            RuntimeWarning,
            stacklevel=3,
        )
