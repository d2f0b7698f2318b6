"""Robust multi-start point fits (Hoffmann et al. 2022, Approach 3).

The objective is the **sum** over points of Huber_delta(log L_hat - log L) (summing, not averaging:
Besiroglu et al. 2024 found that averaging makes L-BFGS stop early). Every start runs in one
jit+vmap program in two phases:

1. *screen*: every start takes ``screen_steps`` (default 10) BFGS steps (optimistix), all lanes in
   lock-step;
2. *polish*: the ``polish`` (default 16) best screened points run BFGS to convergence (``max_steps``).

On more than ``SCREEN_POINTS`` (2,048) points, both phases run on a stratified subsample of 2,048
points (:func:`stratified_subsample`: even over log compute and, within it, over model size), and the
``final_polish`` (default 4) best are then polished on every point, with the objective summed in
chunks of 4,096 points (:func:`chunked_objective`). Memory is then bounded whatever the number of
points (a million rows fit in under 1 GB; benchmarks/bench_memory.py), where one program over every
start and point needed starts x points x 80 bytes (8.2 GB at 24,000 rows). Up to 2,048 points the
program and its numbers are those of the unchunked fit.

The defaults were measured (benchmarks/bench_point_fit.py): on Epoch's 240 points and 12 simulated
datasets, 10 screening steps and 16 polished starts reach the same optimum as 20 and 32 (objectives
equal to 6e-15 relative) in half the run time; the polish's slowest lane sets the pace.

A naive vmap of BFGS over all 4,500 starts runs as long as its slowest lane (about 17 s on two
cores); screening first makes the grid cost about as much as a few dozen full fits.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..checks import check_dataset, check_int
from ..data import Dataset
from ..laws import resolve
from .multistart import (
    FINAL_POLISH,
    LANE_POINTS,
    STATUS_CONVERGED,
    STATUS_MAX_STEPS,
    STATUS_NAMES,
    STATUS_NONFINITE,
    STATUS_SCREENED_OUT,
    FitResult,
    check,
    multistart,
    random_starts,
)
from .objective import LOSSES, POINT_CHUNK, chunked_objective, huber, objective, residual_terms
from .subsample import SCREEN_POINTS, stratified_subsample

__all__ = [
    "FINAL_POLISH",
    "FitResult",
    "LANE_POINTS",
    "LOSSES",
    "POINT_CHUNK",
    "SCREEN_POINTS",
    "STATUS_CONVERGED",
    "STATUS_MAX_STEPS",
    "STATUS_NAMES",
    "STATUS_NONFINITE",
    "STATUS_SCREENED_OUT",
    "check",
    "chunked_objective",
    "fit",
    "huber",
    "multistart",
    "objective",
    "random_starts",
    "residual_terms",
    "stratified_subsample",
]


def fit(
    data: Dataset,
    *,
    law="chinchilla",
    loss: str = "huber",
    delta: float = 1e-3,
    starts=None,
    weights=None,
    screen_steps: int = 10,
    polish: int = 16,
    max_steps: int = 2000,
    warn: bool = True,
    screen_points: int | None = SCREEN_POINTS,
    final_polish: int = FINAL_POLISH,
) -> FitResult:
    """Fit a scaling law to ``data`` by multi-start robust minimisation (Approach 3).

    Args:
        data: a validated :class:`~bayes_scaling.data.Dataset`.
        law: a law spec: a name (``"chinchilla"``), a :class:`~bayes_scaling.laws.Law` subclass or a
            :class:`~bayes_scaling.laws.Constrained` one.
        loss: ``"huber"`` on log loss (default), ``"squared-log"`` or ``"squared-raw"``.
        delta: Huber delta on log loss (Hoffmann et al. 2022 use 1e-3).
        starts: (S, p) array of unconstrained starts; default the law's start grid (Hoffmann's
            4,500-start grid for Chinchilla).
        weights: optional (n,) non-negative weights per point.
        screen_steps, polish, max_steps: see :func:`multistart`.
        screen_points: on more rows (of positive weight) than this, screen and pre-polish the starts
            on a stratified subsample of this many rows (:func:`stratified_subsample`), then polish
            the ``final_polish`` best on every row; ``None`` screens on every row.
        final_polish: starts polished on every row after a subsample screen.
        warn: emit warnings when the best start did not converge or sits on a bound.

    Returns:
        A :class:`FitResult` with scalar law leaves.

    Examples:
        >>> import bayes_scaling as bs
        >>> res = bs.fit(bs.example_data())
        >>> bool(res.converged)
        True

    References:
        Hoffmann et al. 2022, sec. 3.3 and App. D.2; Besiroglu et al. 2024 (arXiv:2404.10102).
    """
    check_dataset(data)
    spec = resolve(law)
    if starts is None:
        starts = spec.start_grid()
    starts = np.asarray(starts, dtype=np.float64)
    p = len(spec.unconstrained_names)
    if starts.ndim != 2 or starts.shape[1] != p or starts.shape[0] < 1:
        raise ValueError(f"starts must have shape (S, {p}) in {spec.unconstrained_names}; got {starts.shape}")
    if not np.all(np.isfinite(starts)):
        raise ValueError(f"starts must be finite; {int(np.sum(~np.all(np.isfinite(starts), axis=1)))} of "
                         f"{starts.shape[0]} are not")
    for name, value, least in (("screen_steps", screen_steps, 0), ("polish", polish, 1), ("max_steps", max_steps, 1)):
        check_int(name, value, least)
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    if not delta > 0:
        raise ValueError(f"delta must be > 0; got {delta}")
    w = np.ones_like(data.N) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != data.N.shape:
        raise ValueError(f"weights must have shape {data.N.shape}; got {w.shape}")
    if not np.all(np.isfinite(w) & (w >= 0)):
        bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0)))
        raise ValueError(f"weights must be finite and >= 0; {bad.size} bad, first at index {bad[0]} (value {w[bad[0]]})")
    if np.count_nonzero(w) < p + 1:
        raise ValueError(f"weights select {np.count_nonzero(w)} points; the law's {p} free parameters need at "
                         f"least {p + 1}")
    if screen_points is not None and not (isinstance(screen_points, int) and screen_points >= 1):
        raise ValueError(f"screen_points must be an integer >= 1 or None; got {screen_points!r}")
    if not (isinstance(final_polish, int) and final_polish >= 1):
        raise ValueError(f"final_polish must be an integer >= 1; got {final_polish!r}")
    index = None
    if screen_points is not None:
        index = stratified_subsample(np.log(data.C), np.log(data.N), screen_points, w)
    res = multistart(
        jnp.asarray(starts),
        data.log_inputs(spec),
        jnp.log(data.loss),
        jnp.asarray(w),
        delta,
        None if index is None else jnp.asarray(index),
        law=spec,
        loss=loss,
        screen_steps=screen_steps,
        polish=polish,
        max_steps=max_steps,
        final_polish=final_polish,
    )
    if warn:
        check(res, spec)
    return res
