"""Screen-then-polish multi-start minimisation, one jit+vmap program for every start."""

from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .objective import POINT_CHUNK, chunked_objective

__all__ = [
    "FitResult",
    "multistart",
    "random_starts",
    "check",
    "FINAL_POLISH",
    "LANE_POINTS",
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
        start_objective: each start's objective after screening / polishing, shape (starts,). After
            a screen on a subsample, starts not polished on every point carry their subsample
            objective scaled by total weight / subsample weight (an estimate of the full sum).
        start_status: each start's status code (``STATUS_NAMES``), shape (starts,); after a screen on
            a subsample, only the starts polished on every point are other than ``screened_out``.
        n_converged: number of starts that were polished (on every point) to convergence.
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


# Start x point evaluations one vmapped batch of starts may hold at once (each holds about ten float64
# temporaries per point: 2^21 of them are about 170 MB). Hoffmann's 4,500 starts on Epoch's 240 points
# (1.1 million) run as one batch, as they always did; more starts or points run in equal batches.
LANE_POINTS = 1 << 21
# Starts polished on every point after a screen on a subsample (see multistart).
FINAL_POLISH = 4


def _run_bfgs(x0, args, fn, max_steps, rtol, atol):
    # Imported here (traced once per compile), not at the top: optimistix and equinox are about a third
    # of the package's import time, and `predict` with a cached discrepancy never fits.
    import optimistix as optx

    solver = optx.BFGS(rtol=rtol, atol=atol)
    sol = optx.minimise(fn, solver, x0, args=args, max_steps=max_steps, throw=False)
    return sol.value, sol.result == optx.RESULTS.successful


def _over_starts(run, starts, n_points, lane_points):
    """``jax.vmap(run)(starts)`` in equal batches of at most ``lane_points // n_points`` starts
    (``lax.map`` over batches); one batch, i.e. exactly the vmap, when they all fit."""
    n_starts = starts.shape[0]
    per = max(1, lane_points // max(n_points, 1))
    if n_starts <= per:
        return jax.vmap(run)(starts)
    n_batches = -(-n_starts // per)
    per = -(-n_starts // n_batches)
    padded = jnp.concatenate([starts, jnp.broadcast_to(starts[-1:], (per * n_batches - n_starts,) +
                                                        starts.shape[1:])])
    out = jax.lax.map(jax.vmap(run), padded.reshape((n_batches, per) + starts.shape[1:]))
    return jax.tree_util.tree_map(lambda a: a.reshape((n_batches * per,) + a.shape[2:])[:n_starts], out)


def _finite_or_inf(values, xs=None):
    finite = jnp.isfinite(values)
    if xs is not None:
        finite = finite & jnp.all(jnp.isfinite(xs), axis=-1)
    return jnp.where(finite, values, jnp.inf), finite


@partial(
    jax.jit,
    static_argnames=("loss", "law", "screen_steps", "polish", "max_steps", "rtol", "atol", "final_polish",
                     "point_chunk", "lane_points"),
)
def multistart(
    starts,
    logX,
    logL,
    weights,
    delta=1e-3,
    screen_index=None,
    *,
    law,
    loss="huber",
    screen_steps=10,
    polish=16,
    max_steps=2000,
    rtol=1e-10,
    atol=1e-12,
    final_polish=FINAL_POLISH,
    point_chunk=POINT_CHUNK,
    lane_points=LANE_POINTS,
):
    """Screen-then-polish multi-start minimisation of :func:`objective`, fully traceable.

    All array arguments may be traced, so this vmaps over datasets (weights) for bootstrap and
    region sweeps. Returns a :class:`FitResult` with device arrays and no host-side checks.

    Memory does not grow with starts x points: the objective on more than ``point_chunk`` points is
    summed in chunks (:func:`~bayes_scaling.fitting.objective.chunked_objective`), and the starts run
    in batches of at most ``lane_points`` start x point evaluations. With ``screen_index`` (the rows
    of a subsample, e.g. :func:`~bayes_scaling.fitting.stratified_subsample`) the starts are screened
    and the best ``polish`` polished to convergence on the subsample alone; the best
    ``final_polish`` of those are then polished on every point. Without it, and on data within one
    chunk and one batch (Epoch's 240 points and 4,500 starts), this is the same program as before the
    chunking, with the same numbers.

    Args:
        starts: (S, p) unconstrained starting vectors.
        logX: (k, n) logs of the law's inputs; logL: (n,) log loss.
        weights: (n,) non-negative weights (multiplicities or a 0/1 mask).
        delta: Huber delta.
        screen_index: optional (m,) int row indices of a subsample to screen (and pre-polish) on.
        law: the law spec (a Law subclass or a Constrained one; static).
        loss: 'huber', 'squared-log' or 'squared-raw'.
        screen_steps: BFGS steps every start takes before ranking (0 ranks the raw starts).
        polish: how many of the best screened points are run to convergence.
        max_steps: step limit for the polish.
        rtol, atol: optimistix BFGS tolerances for the polish.
        final_polish: with ``screen_index``, how many pre-polished points are polished on all points.
        point_chunk: points per chunk of the objective (static).
        lane_points: start x point evaluations per vmapped batch of starts (static).
    """
    def fn(x, args):
        return chunked_objective(x, *args, law=law, loss=loss, delta=delta, chunk=point_chunk)

    def bfgs_all(xs, args, steps):
        n_pts = min(args[1].shape[-1], point_chunk)
        return _over_starts(lambda s: _run_bfgs(s, args, fn, steps, rtol, atol), xs, n_pts, lane_points)

    def values(xs, args):
        n_pts = min(args[1].shape[-1], point_chunk)
        return _over_starts(lambda x: fn(x, args), xs, n_pts, lane_points)

    args = (logX, logL, weights)
    n_starts = starts.shape[0]
    polish = min(polish, n_starts)
    if screen_index is None:
        screen_args, scale = args, 1.0
    else:
        screen_args = (logX[:, screen_index], logL[screen_index], weights[screen_index])
        # Subsample objectives are scaled to estimate the full data's (reported per start).
        scale = jnp.sum(weights) / jnp.sum(screen_args[2])

    screened = bfgs_all(starts, screen_args, screen_steps)[0] if screen_steps > 0 else starts
    screen_obj, _ = _finite_or_inf(values(screened, screen_args))
    _, top = jax.lax.top_k(-screen_obj, polish)
    start_obj = screen_obj if screen_index is None else screen_obj * scale

    if screen_index is not None:
        # Pre-polish on the subsample; the best final_polish go on to every point.
        pre, _ = bfgs_all(screened[top], screen_args, max_steps)
        pre_obj, _ = _finite_or_inf(values(pre, screen_args), pre)
        start_obj = start_obj.at[top].set(pre_obj * scale)
        _, second = jax.lax.top_k(-pre_obj, min(final_polish, polish))
        top, from_points = top[second], pre[second]
    else:
        from_points = screened[top]

    polished, ok = bfgs_all(from_points, args, max_steps)
    pol_obj, finite = _finite_or_inf(values(polished, args), polished)

    status_pol = jnp.where(finite, jnp.where(ok, STATUS_CONVERGED, STATUS_MAX_STEPS), STATUS_NONFINITE)
    start_status = jnp.full((n_starts,), STATUS_SCREENED_OUT, dtype=jnp.int32)
    start_status = jnp.where(jnp.isfinite(screen_obj), start_status, STATUS_NONFINITE)
    start_status = start_status.at[top].set(status_pol.astype(jnp.int32))
    start_obj = start_obj.at[top].set(pol_obj)

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
