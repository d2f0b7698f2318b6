"""A stratified subsample of the points, on which a fit with many starts screens them.

Screening thousands of starts costs starts x points; on a stratified subsample of a few thousand
points it costs the same at any data size, and the starts it ranks best are then polished on every
point (:func:`~bayes_scaling.fitting.multistart`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SCREEN_POINTS", "stratified_subsample"]

# Points on which a fit's starts are screened when the data hold more. Hoffmann's 4,500 starts on
# 2,048 points cost as much as on Epoch's 240 points nine times over, a few seconds; the subsample's
# optimum lies within a few standard errors of the full data's, so the starts it ranks best are in
# the full data's best basin (polishing on every point then removes the difference).
SCREEN_POINTS = 2048


def stratified_subsample(log_compute, log_size, m: int, weights=None) -> np.ndarray | None:
    """Row indices of ``m`` points spread evenly over log compute and, within it, over model size.

    The rows with positive weight are cut into about sqrt(m) strata of equal count along
    ``log_compute``; within each stratum they are ordered by ``log_size``; the subsample takes every
    (k/m)-th row of that order (systematic sampling), so each compute stratum contributes its share
    and its small and large models alike. Deterministic: the same data give the same subsample.

    Args:
        log_compute: (n,) log training compute of each row (or any primary axis of the design).
        log_size: (n,) log model size (the secondary axis).
        m: the subsample size.
        weights: optional (n,) non-negative weights; rows of weight 0 are never picked.

    Returns:
        Sorted indices (m,), or ``None`` when at most ``m`` rows have positive weight (no subsample
        is needed).

    Examples:
        >>> idx = stratified_subsample(np.arange(100.0), np.zeros(100), 10)
        >>> idx.tolist()
        [5, 15, 25, 35, 45, 55, 65, 75, 85, 95]
    """
    log_compute = np.asarray(log_compute, dtype=np.float64)
    log_size = np.asarray(log_size, dtype=np.float64)
    w = np.ones_like(log_compute) if weights is None else np.asarray(weights, dtype=np.float64)
    active = np.flatnonzero(w > 0)
    k = active.size
    if m < 1:
        raise ValueError(f"a subsample needs m >= 1 points; got {m}")
    if k <= m:
        return None
    strata = math.ceil(math.sqrt(m))
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(log_compute[active], kind="stable")] = np.arange(k)  # rank of active[j] in compute
    stratum = rank * strata // k
    order = active[np.lexsort((log_size[active], stratum))]
    pick = ((np.arange(m) + 0.5) * k / m).astype(np.int64)
    return np.sort(order[pick])
