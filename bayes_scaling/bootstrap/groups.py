"""Model sizes: the clusters of the ``"models"`` bootstrap scheme."""

from __future__ import annotations

import numpy as np

__all__ = ["model_groups"]


def model_groups(N, rtol: float = 1e-4) -> np.ndarray:
    """Group ids (0 .. G-1, increasing with size) of the distinct model sizes in ``N``.

    Sorted log N values start a new group where they differ from the previous one by more than
    ``rtol`` (relative). Values extracted from plots jitter: Epoch's N values for one model differ by
    about 1e-6 relatively, while Chinchilla's closest distinct sizes (1,424M and 1,429M parameters)
    differ by 3.5e-3; ``rtol = 1e-4`` separates the two and gives 43 sizes on Epoch's 240 points.
    (Rounding log10 N to 2 decimals would instead split or merge sizes that straddle a rounding edge.)

    Args:
        N: (n,) positive finite model sizes (parameters).
        rtol: relative gap in N above which two sorted sizes are distinct models.

    Returns:
        (n,) int32 group ids.

    Examples:
        >>> model_groups([1e8, 2e8, 1e8 * (1 + 1e-6)]).tolist()
        [0, 1, 0]
    """
    N = np.asarray(N, dtype=np.float64)
    if N.ndim != 1 or N.size == 0 or not np.all(np.isfinite(N) & (N > 0)):
        raise ValueError(f"N must be a non-empty 1-D array of positive finite values; got shape {N.shape}")
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0; got {rtol}")
    order = np.argsort(N, kind="stable")
    logn = np.log(N[order])
    new = np.concatenate([[0], (np.diff(logn) > rtol).astype(np.int64)])
    groups = np.empty(N.size, dtype=np.int32)
    groups[order] = np.cumsum(new)
    return groups
