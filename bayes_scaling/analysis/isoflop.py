"""Approach 2 (Hoffmann et al. 2022, Sec. 3.2): isoFLOP profiles, their minima, and N_opt ~ C^a.

Runs are grouped by compute budget: the values of a budget column when one is given (runs with equal
values form one profile), else C = k N D clustered in log space: sorted budgets start a new profile
where consecutive runs differ by more than ``tol`` (5%) in C, and a profile whose runs span more than
twice that is flagged. Each profile's minimum is a least-squares parabola in log N through the
lowest-loss run and up to ``window`` (default 2) distinct model sizes on each side of it, so 5 runs on
a grid like Chinchilla's or Porian et al.'s; D_opt is the vertex of the parabola of loss in log D over
the same runs (for runs on an exact isoFLOP line, D_opt = C / (k N_opt)). A profile is *bracketed*
when a smaller and a larger model than the lowest-loss run were trained at that budget, the parabola
is convex, and its vertex lies within the window; unbracketed profiles are reported and left out of
the power laws log N_opt = log G + a log C and log D_opt = log H + b log C (ordinary least squares
over budgets).

Intervals come from a bootstrap over runs: each replicate resamples the runs of every budget with
replacement (multinomial counts; a resampled run counts as often as it was drawn in the parabola's
weighted least squares, and the window is taken over the model sizes drawn), refits every profile and
both power laws, all replicates at once as arrays. A budget whose minimum is not bracketed in a
replicate is left out of that replicate's power laws; a replicate with fewer than 3 bracketed budgets
fails, and more than 5% failed replicates make the result unreliable. The interval is the central
``level`` percentile interval of the successful replicates.

Porian et al. (2024) locate each minimum with an Akima interpolation instead and bootstrap by adding
seed-level noise to the losses; on their published isoFLOP points the default here gives exponents
within 0.03 of theirs for all 15 configurations (README and ``tests/test_isoflop.py``).

References:
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", Sec. 3.2 (Approach 2).
    Porian et al. 2024, "Resolving Discrepancies in Compute-Optimal Scaling of Language Models".
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..checks import check_dataset, check_int, check_k
from ..data import DEFAULT_FLOPS_PER_PARAM_TOKEN, DEFAULT_LEVEL, DataError, check_seed

__all__ = ["Profile", "IsoflopResult", "budget_groups", "profile_minima", "power_law", "isoflop"]

MIN_BUDGETS = 3  # a slope with its residual needs at least 3 bracketed budgets
MAX_FAILED = 0.05


class Profile(NamedTuple):
    """One budget's profile: its compute, minimum, whether it is bracketed, and its runs."""

    compute: float
    N_opt: float
    D_opt: float
    bracketed: bool
    n_runs: int
    n_window: int
    reason: str
    bracketed_fraction: float

    def as_dict(self) -> dict:
        return self._asdict()


class IsoflopResult(NamedTuple):
    """Approach 2's exponents with bootstrap intervals, and the per-budget profiles.

    Attributes:
        a, b: ``{"estimate", "lower", "upper"}`` of N_opt ~ C^a and D_opt ~ C^b.
        coef: ``{"N": G, "D": H}`` in N_opt = G C^a and D_opt = H C^b (point fit).
        budgets: one :class:`Profile` per budget, by increasing compute.
        level, replicates, failed: the interval level, the replicates drawn and those that failed.
        window: model sizes on each side of the lowest-loss run that enter each parabola.
        problems: reasons the result is not reliable (empty when it is).
        draws: ``{"a": array, "b": array}`` of the successful replicates (for plots and SEs).
    """

    a: dict
    b: dict
    coef: dict
    budgets: list
    level: float
    replicates: int
    failed: int
    window: int
    problems: list
    draws: dict


def budget_groups(C, budgets=None, tol: float = 0.05):
    """``(group, compute, problems)``: each run's budget index, each budget's compute and problems.

    With ``budgets`` (a budget column's values) runs of equal value share a budget; else C is
    clustered in log space, a new budget starting where sorted C jumps by more than ``tol``.
    """
    problems = []
    if budgets is not None:
        b = np.asarray(budgets, dtype=np.float64)
        if b.shape != np.shape(C):
            raise DataError(f"the budget column has {b.size} values for {np.size(C)} runs")
        if not (np.all(np.isfinite(b)) and np.all(b > 0)):
            raise DataError("the budget column must be finite and > 0")
        compute, group = np.unique(b, return_inverse=True)
        return group.reshape(-1), compute, problems
    logc = np.log(np.asarray(C, dtype=np.float64))
    order = np.argsort(logc, kind="stable")
    new = np.r_[True, np.diff(logc[order]) > np.log1p(tol)]
    gid = np.cumsum(new) - 1
    group = np.empty_like(gid)
    group[order] = gid
    compute = np.exp(np.bincount(group, weights=logc) / np.bincount(group))
    lo = np.full(compute.size, np.inf)
    hi = np.full(compute.size, -np.inf)
    np.minimum.at(lo, group, logc)
    np.maximum.at(hi, group, logc)
    wide = np.flatnonzero(hi - lo > np.log1p(2 * tol))
    for g in wide:
        problems.append(f"runs with C = 6ND from {np.exp(lo[g]):.3g} to {np.exp(hi[g]):.3g} were grouped as one "
                        "budget (the design is not on isoFLOP lines); name a budget column with --budget-col")
    return group, compute, problems


def _vertex(u, y, w):
    """Weighted least-squares parabola y = c0 + c1 u + c2 u^2 per row: (vertex u, convex, ok)."""
    phi = np.stack([np.ones_like(u), u, u * u], axis=-1)  # (R, m, 3)
    M = np.einsum("rm,rmi,rmj->rij", w, phi, phi)
    rhs = np.einsum("rm,rmi,rm->ri", w, phi, y[None, :] if y.ndim == 1 else y)
    ok = np.linalg.matrix_rank(M) == 3
    M = np.where(ok[:, None, None], M, np.eye(3))
    c = np.linalg.solve(M, rhs[..., None])[..., 0]
    convex = ok & (c[:, 2] > 0)
    v = np.where(convex, -c[:, 1] / (2 * np.where(convex, c[:, 2], 1.0)), np.nan)
    return v, convex


def profile_minima(logN, logD, loss, W, window: int = 2):
    """One budget's minimum for each row of run counts ``W`` (R, m): log N_opt, log D_opt, bracketed.

    Runs need not be sorted; ``W[r, i]`` is how often run i enters replicate r (ones: the data).
    Returns ``(logN_opt, logD_opt, bracketed, reason, n_window)`` of shape (R,) (reason: a code,
    0 bracketed, 1 lowest loss at the smallest or largest model size, 2 parabola not convex or its
    vertex outside the window).
    """
    order = np.argsort(logN, kind="stable")
    x, xd, y, W = logN[order], logD[order], loss[order], np.asarray(W, dtype=np.float64)[:, order]
    g = np.r_[0, np.cumsum(np.diff(x) > 0)]  # distinct model sizes
    onehot = (g[:, None] == np.arange(g[-1] + 1)[None, :]).astype(np.float64)
    present = W > 0
    best = np.argmin(np.where(present, y[None, :], np.inf), axis=1)
    pg = (W @ onehot) > 0
    rank = np.cumsum(pg, axis=1) - 1
    rows = np.arange(W.shape[0])
    r_best = rank[rows, g[best]]
    interior = (r_best > 0) & (r_best < pg.sum(axis=1) - 1)
    in_window = pg & (np.abs(rank - r_best[:, None]) <= window)
    w = W * in_window[:, g]
    u = x[None, :] - x[best][:, None]
    ud = xd[None, :] - xd[best][:, None]
    vn, convex_n = _vertex(u, y, w)
    vd, convex_d = _vertex(ud, y, w)
    span = np.where(w > 0, u, np.nan)
    inside = convex_n & (vn >= np.nanmin(span, axis=1)) & (vn <= np.nanmax(span, axis=1))
    bracketed = interior & inside & convex_d
    reason = np.where(bracketed, 0, np.where(interior, 2, 1))
    with np.errstate(invalid="ignore"):
        return (x[best] + vn, xd[best] + vd, bracketed, reason, (w > 0).sum(axis=1))


def power_law(log_c, y, mask):
    """Least-squares slope and intercept of ``y`` on ``log_c`` per row, over the budgets in ``mask``.

    ``log_c`` (nb,), ``y`` and ``mask`` (R, nb). Rows with fewer than :data:`MIN_BUDGETS` budgets
    give NaN.
    """
    m = mask.astype(np.float64)
    n = m.sum(axis=1)
    y = np.where(mask, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xbar = (m * log_c).sum(axis=1) / n
        ybar = (m * y).sum(axis=1) / n
        dx = log_c[None, :] - xbar[:, None]
        slope = (m * dx * (y - ybar[:, None])).sum(axis=1) / (m * dx * dx).sum(axis=1)
        intercept = ybar - slope * xbar
    bad = n < MIN_BUDGETS
    return np.where(bad, np.nan, slope), np.where(bad, np.nan, intercept)


def _counts(rng, group, replicates):
    """(R + 1, n) run counts: row 0 the data (ones), then runs resampled within each budget."""
    W = np.ones((replicates + 1, group.size))
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        W[1:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=replicates)
    return W


_REASONS = {1: "lowest loss at the smallest or largest model size", 2: "parabola not convex or its vertex "
            "outside the window", 3: "fewer than 3 runs"}


def _interval(est, draws, level):
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]) if draws.size else (np.nan, np.nan)
    return {"estimate": float(est), "lower": float(lo), "upper": float(hi)}


def isoflop(data, budgets=None, *, seed: int = 0, replicates: int = 1000, level: float = DEFAULT_LEVEL,
            window: int = 2, flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
            tol: float = 0.05) -> IsoflopResult:
    """Approach 2 on ``data``: profile minima per budget, N_opt ~ C^a and D_opt ~ C^b with intervals.

    Args:
        data: a :class:`~bayes_scaling.data.Dataset`.
        budgets: each run's budget (a budget column), or None to group C = k N D (module docstring).
        seed: the bootstrap's seed (numpy); the same seed gives the same numbers.
        replicates: bootstrap replicates (runs resampled within budgets).
        level: the central interval level.
        window: distinct model sizes on each side of the lowest-loss run in each parabola.

    Examples:
        >>> import jax, bayes_scaling as bs
        >>> N, D = bs.data.chinchilla_design()
        >>> ds = bs.simulate(jax.random.key(0), bs.HOFFMANN_2022, N, D, noise=0.0)
        >>> res = isoflop(ds, replicates=50)
        >>> round(res.a["estimate"], 2), len(res.budgets)   # beta / (alpha + beta) = 0.45
        (0.45, 9)
    """
    check_dataset(data)
    seed = check_seed(seed)
    check_int("replicates", replicates, 2)  # an interval needs two
    check_k(flops_per_param_token)
    if not (isinstance(tol, (int, float, np.floating)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0; got {tol!r}")
    if not (isinstance(window, (int, np.integer)) and window >= 1):
        raise ValueError(f"window must be an integer >= 1; got {window!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    C = flops_per_param_token * data.N * data.D
    group, compute, problems = budget_groups(C, budgets, tol)
    rng = np.random.default_rng(seed)
    W = _counts(rng, group, replicates)
    nb = compute.size
    logn = np.full((replicates + 1, nb), np.nan)
    logd = np.full((replicates + 1, nb), np.nan)
    ok = np.zeros((replicates + 1, nb), dtype=bool)
    profiles = []
    for j in range(nb):
        idx = np.flatnonzero(group == j)
        if idx.size < 3:
            profiles.append(Profile(float(compute[j]), np.nan, np.nan, False, int(idx.size), 0, _REASONS[3], 0.0))
            continue
        n_opt, d_opt, br, reason, n_win = profile_minima(np.log(data.N[idx]), np.log(data.D[idx]),
                                                         data.loss[idx], W[:, idx], window)
        logn[:, j], logd[:, j], ok[:, j] = n_opt, d_opt, br & br[0]
        profiles.append(Profile(float(compute[j]), float(np.exp(n_opt[0])) if br[0] else np.nan,
                                float(np.exp(d_opt[0])) if br[0] else np.nan, bool(br[0]), int(idx.size),
                                int(n_win[0]), "" if br[0] else _REASONS[int(reason[0])],
                                float(br[1:].mean()) if replicates else float(br[0])))
    log_c = np.log(compute)
    a, log_g = power_law(log_c, logn, ok)
    b, log_h = power_law(log_c, logd, ok)
    used = int(ok[0].sum())
    if used < MIN_BUDGETS:
        problems.append(f"only {used} budgets have a bracketed minimum; the power laws need at least {MIN_BUDGETS}")
    good = np.isfinite(a[1:]) & np.isfinite(b[1:])
    failed = int((~good).sum())
    if replicates and failed > MAX_FAILED * replicates:
        problems.append(f"{failed} of {replicates} bootstrap replicates failed (fewer than {MIN_BUDGETS} "
                        "budgets with a bracketed minimum)")
    return IsoflopResult(_interval(a[0], a[1:][good], level), _interval(b[0], b[1:][good], level),
                         {"N": float(np.exp(log_g[0])), "D": float(np.exp(log_h[0]))}, profiles, level,
                         int(replicates), failed, int(window), problems,
                         {"a": a[1:][good], "b": b[1:][good]})
