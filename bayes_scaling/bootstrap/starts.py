"""The starts every replicate shares: the full-data optimum, competitive basins, jittered copies.

The law spec supplies the pieces that depend on its coordinates: a coarse global grid
(``law.coarse_grid()``) for the basin search and the jitter scales (``law.jitter_scale()``).
"""

from __future__ import annotations

from functools import partial

import jax
import numpy as np

from ..fitting import multistart
from ..laws import resolve

__all__ = ["coarse_grid", "competitive_basins", "default_starts", "find_basins"]

# Seed of the fixed jitter directions (a seeded draw, so that the starts depend only on the centre).
JITTER_SEED = 20240417


def coarse_grid(law="chinchilla") -> np.ndarray:
    """The law spec's coarse global grid of starts (``law.coarse_grid()``), shape (S, p).

    For Chinchilla: 8 starts, a 2^(5-2) fractional factorial inside Hoffmann's grid (see
    :meth:`bayes_scaling.laws.Chinchilla.coarse_grid`).

    Examples:
        >>> coarse_grid().shape
        (8, 5)
    """
    return np.asarray(resolve(law).coarse_grid(), dtype=np.float64)


@partial(jax.jit, static_argnames=("law", "loss", "max_steps", "rtol", "atol"))
def find_basins(starts, logX, logL, mask, delta=1e-3, *, law, loss="huber", max_steps=2000, rtol=1e-10,
                atol=1e-12):
    """Polish every start to convergence on the (masked) data: the local optima they reach.

    Traceable (vmap over masks for region sweeps).

    Args:
        starts: (S, p) unconstrained starts (the spec's ``unconstrained_names``).
        logX: (k, n) logs of the law's inputs (``data.log_inputs(law)``); logL: (n,) log loss.
        mask: (n,) weights of the rows (0/1 for a fit region).
        delta: Huber delta on log loss.
        law: the law spec (static): a Law subclass or a Constrained one.
        loss, max_steps, rtol, atol: objective and BFGS settings (:func:`~bayes_scaling.fitting.multistart`).

    Returns:
        (x (S, p), objective (S,), converged (S,)), one local optimum per start.
    """
    def one(s):
        r = multistart(s[None], logX, logL, mask, delta, law=law, loss=loss, screen_steps=0, polish=1,
                       max_steps=max_steps, rtol=rtol, atol=atol)
        return r.x, r.objective, r.converged

    return jax.vmap(one)(starts)


def competitive_basins(x, objective, converged, center_objective, *, ratio: float = 2.0,
                       max_basins: int = 3, same_rtol: float = 1e-7) -> np.ndarray:
    """The distinct converged local optima whose objective is within ``ratio`` of the best.

    Host-side. Optima whose objectives agree to ``same_rtol`` (relative) are one basin; the basin of
    the centre (objective ``center_objective``) is left out, since the centre already starts there.
    The best is compared with the centre too, so that a centre in a poor basin keeps the better
    basins. At most ``max_basins`` are returned, best first.

    Resampling moves the objective at each basin by about 10% (Epoch's data, row bootstrap: the
    replicate objectives' coefficient of variation), so a basin more than twice as bad as the best on
    the full data is not one that a replicate's optimum flips to; on Epoch's 240 points the next basin
    (found from Hoffmann's grid) is 10.8 times worse, and the coarse grid's starts either reach the
    optimum or stall without converging, so no basin is added there.

    Returns:
        (K, p) optima, K <= max_basins.
    """
    x = np.asarray(x, dtype=np.float64)
    f = np.where(np.asarray(converged, bool) & np.all(np.isfinite(x), axis=-1),
                 np.asarray(objective, dtype=np.float64), np.inf)
    f = np.where(np.isfinite(f), f, np.inf)
    best = min(float(np.min(f)) if f.size else np.inf, float(center_objective))
    kept, kept_f = [], [float(center_objective)]
    for i in np.argsort(f, kind="stable"):
        fi = f[i]
        if not (np.isfinite(fi) and fi <= ratio * best) or len(kept) >= max_basins:
            break
        if any(abs(fi - g) <= same_rtol * max(abs(g), 1e-300) for g in kept_f):
            continue
        kept.append(x[i])
        kept_f.append(fi)
    return np.asarray(kept, dtype=np.float64).reshape(-1, x.shape[-1])


def default_starts(center, basins=None, *, law, n_jitter: int = 2) -> np.ndarray:
    """Starts shared by every replicate: the centre, the other competitive basins, jittered centres.

    Order: the centre (the full-data optimum), then ``basins`` (other competitive local optima of the
    full data, found from the law's coarse global grid; see :func:`competitive_basins`), then
    ``n_jitter`` copies of the centre jittered with fixed directions and the law's scales
    ``law.jitter_scale()`` (Chinchilla: 0.05 in log E, 0.5 in log A and log B and 0.02 in the
    exponents).

    Args:
        center: (p,) unconstrained optimum of the full data.
        basins: optional (K, p) other competitive optima.
        law: the law spec (a name is resolved).
        n_jitter: number of jittered copies of the centre.

    Returns:
        (1 + K + n_jitter, p) starts.

    Examples:
        >>> import bayes_scaling as bs
        >>> default_starts(bs.fit(bs.example_data()).x, law=bs.Chinchilla).shape
        (3, 5)
    """
    spec = resolve(law)
    p = len(spec.unconstrained_names)
    c = np.asarray(center, dtype=np.float64).reshape(-1)
    if c.shape != (p,) or not np.all(np.isfinite(c)):
        raise ValueError(f"center must be {p} finite values in {spec.unconstrained_names}; got {c}")
    if n_jitter < 0:
        raise ValueError(f"n_jitter must be >= 0; got {n_jitter}")
    b = np.zeros((0, p)) if basins is None else np.asarray(basins, dtype=np.float64).reshape(-1, p)
    scale = np.asarray(spec.jitter_scale(), dtype=np.float64)
    z = np.random.default_rng(JITTER_SEED).standard_normal((n_jitter, p))
    return np.concatenate([c[None], b, c + scale * z], axis=0)
