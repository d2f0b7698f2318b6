"""Summaries over samples: median and central interval, and probabilities of events.

The estimate is the median over samples and the interval the central ``level`` quantile interval
(the convention of :mod:`bayes_scaling.summary`). A point law has an estimate only; its
``lower``/``upper`` are NaN in arrays and ``null`` in JSON. NaN samples (a degenerate law without an
interior optimum, e.g. an exponent <= 0) are left out with a warning.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._core import _check_level
from .types import Interval

__all__ = ["summarize"]


def _quantiles(x: np.ndarray, qs) -> list[np.ndarray]:
    """Linear-interpolation quantiles over axis 0, ignoring NaN, exact at +-inf."""
    xs = np.sort(x, axis=0)  # NaN sorts last
    n = np.sum(~np.isnan(x), axis=0)
    out = []
    for q in qs:
        pos = q * np.maximum(n - 1, 0)
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, np.maximum(n - 1, 0))
        g = pos - i0
        v0 = np.take_along_axis(xs, i0[None], axis=0)[0]
        v1 = np.take_along_axis(xs, i1[None], axis=0)[0]
        with np.errstate(invalid="ignore"):
            v = np.where((g == 0) | (v0 == v1), v0, v0 + (v1 - v0) * g)
        out.append(np.where(n == 0, np.nan, v))
    return out


def summarize(samples, n_sample_dims: int, level: float = 0.9, *, name: str = "quantity") -> Interval:
    """Median and central ``level`` interval over the leading ``n_sample_dims`` dimensions.

    With ``n_sample_dims == 0`` (a point law) the estimate is the value and the interval is NaN.
    NaN samples are left out with a warning naming ``name``; ``inf`` samples count as the largest
    values (an interval can reach ``inf``).

    Args:
        samples: array of shape ``sample_shape + query_shape``.
        n_sample_dims: how many leading dims are sample dims (``len(sample_shape(law))``).
        level: central interval level in (0, 1).
        name: the quantity's name for warnings.

    Returns:
        An :class:`Interval` of numpy arrays of ``query_shape``.

    Examples:
        >>> iv = summarize(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 1, 0.5)
        >>> float(iv.estimate), float(iv.lower), float(iv.upper)
        (3.0, 2.0, 4.0)
    """
    level = _check_level(level)
    x = np.asarray(samples, dtype=np.float64)
    if n_sample_dims == 0:
        nan = np.full(x.shape, np.nan)
        return Interval(x, nan, nan.copy(), level)
    qshape = x.shape[n_sample_dims:]
    x = x.reshape((-1,) + qshape)
    n_nan = np.isnan(x).sum(axis=0)
    if np.any(n_nan):
        warnings.warn(
            f"{name}: {int(n_nan.max())} of {x.shape[0]} samples are NaN (a degenerate law without an "
            "interior optimum, e.g. an exponent <= 0) and were left out of the interval",
            RuntimeWarning,
            stacklevel=3,
        )
    med, lo, hi = _quantiles(x, [0.5, (1 - level) / 2, (1 + level) / 2])
    return Interval(med, lo, hi, level)


def _probability(mask, valid, n_sample_dims: int, name: str) -> np.ndarray:
    """Fraction of valid samples where ``mask`` holds, over the leading sample dims."""
    mask = np.asarray(mask, dtype=bool)
    valid = np.broadcast_to(np.asarray(valid, dtype=bool), mask.shape)
    qshape = mask.shape[n_sample_dims:]
    m = mask.reshape((-1,) + qshape)
    v = valid.reshape((-1,) + qshape)
    n_bad = (~v).sum(axis=0)
    if np.any(n_bad):
        warnings.warn(f"{name}: {int(n_bad.max())} of {m.shape[0]} samples are NaN and were left out",
                      RuntimeWarning, stacklevel=3)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (m & v).sum(axis=0) / v.sum(axis=0)
