"""Summaries of parameter sample sets: one function for point fits, posteriors and bootstrap.

A law pytree with leaves of shape ``()`` is a point estimate; any leading shape is a sample set
(``(chain, draw)`` for posteriors, ``(replicate,)`` for bootstrap). The functions read the law's
parameter names and derived quantities from the law protocol (:mod:`bayes_scaling.laws`); they
never name a parameter.
"""

from __future__ import annotations

import numpy as np

from . import laws
from .laws import sample_shape

__all__ = ["interval", "summarize_array", "summarize_law", "derived"]


def interval(samples, level: float):
    """Central ``level`` interval of flattened samples: (lower, upper)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    q = np.quantile(x, [(1 - level) / 2, (1 + level) / 2])
    return float(q[0]), float(q[1])


def summarize_array(samples, level: float, point: bool = False) -> dict:
    """``{"estimate": median, "lower", "upper", "sd"}``; a point value gives only ``estimate``.

    Sample dimensions are all leading dimensions; samples here are flattened, so pass one quantity.
    """
    x = np.asarray(samples, dtype=np.float64)
    if point or x.ndim == 0:
        return {"estimate": float(x)}
    lo, hi = interval(x, level)
    return {"estimate": float(np.median(x)), "lower": lo, "upper": hi, "sd": float(np.std(x, ddof=1))}


def derived(law) -> dict:
    """The law's derived quantities (its ``derived()``, e.g. Chinchilla's allocation exponents a, b)
    at any sample shape, as numpy arrays: :func:`bayes_scaling.laws.derived`."""
    return laws.derived(law)


def summarize_law(law, level: float = 0.95, include_derived: bool = False) -> dict:
    """Per-parameter summaries of a law pytree at any sample shape (and its derived quantities)."""
    point = sample_shape(law) == ()
    out = {name: summarize_array(getattr(law, name), level, point) for name in type(law).names}
    if include_derived:
        for k, v in derived(law).items():
            out[k] = summarize_array(v, level, point)
    return out
