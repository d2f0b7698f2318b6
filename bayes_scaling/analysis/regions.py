"""Fit regions: 0/1 masks over a fixed dataset, and the checks that a region can identify the law.

Every region is a boolean mask over the *same* dataset (minimum / maximum compute, parameters,
tokens or tokens per parameter; dropping the k highest-loss points; dropping the k smallest model
sizes), so that all regions of one method run as one vectorised program
(:mod:`bayes_scaling.analysis.region_fits`).

Model sizes are counted as groups of N values within a relative 1e-4 of each other
(:func:`bayes_scaling.bootstrap.model_groups`, the grouping the cluster bootstrap uses):
figure-extracted data such as Epoch's carry jitter in N (Epoch's 240 points have 140 distinct floats
but 43 sizes).
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np

from ..data import DEFAULT_FLOPS_PER_PARAM_TOKEN, Dataset
from ..laws import free_names, resolve

__all__ = ["REGION_KINDS", "CHOICE_AXES", "region_masks", "check_regions", "min_points", "model_sizes"]

REGION_KINDS = {
    "min-compute": "keep C >= value",
    "max-compute": "keep C <= value",
    "min-params": "keep N >= value",
    "max-params": "keep N <= value",
    "min-tokens": "keep D >= value",
    "max-tokens": "keep D <= value",
    "min-tokens-per-param": "keep D/N >= value",
    "max-tokens-per-param": "keep D/N <= value",
    "tokens-per-param": "keep lo <= D/N <= hi (value 'lo:hi')",
    "drop-top-loss": "drop the k highest-loss points (value k)",
    "drop-smallest-models": "drop the k smallest model sizes (value k)",
}

# The axes of :func:`bayes_scaling.analysis.choices.fitting_choices` (named in error messages).
CHOICE_AXES = ("compute", "objective", "params", "starts")

_CUTOFF = {
    "min-compute": ("C", ">="),
    "max-compute": ("C", "<="),
    "min-params": ("N", ">="),
    "max-params": ("N", "<="),
    "min-tokens": ("D", ">="),
    "max-tokens": ("D", "<="),
    "min-tokens-per-param": ("D/N", ">="),
    "max-tokens-per-param": ("D/N", "<="),
}


def model_sizes(N) -> np.ndarray:
    """Model-size group ids of ``N`` (:func:`bayes_scaling.bootstrap.model_groups`)."""
    from ..bootstrap import model_groups

    return model_groups(N)


def min_points(law) -> int:
    """The fewest points that can identify ``law``: its number of free parameters + 1."""
    return len(free_names(resolve(law))) + 1


def _column(data: Dataset, name: str, k: float) -> np.ndarray:
    if name == "C":
        return k * data.N * data.D
    if name == "D/N":
        return data.D / data.N
    return getattr(data, name)


def _parse_number(value, vary: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"--vary {vary}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"--vary {vary}: expected a finite number, got {value!r}")
    return v


def _parse_count(value, vary: str) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"--vary {vary}: expected a non-negative integer, got {value!r}") from None
    if not (f >= 0 and f == int(f)):
        raise ValueError(f"--vary {vary}: expected a non-negative integer, got {value!r}")
    return int(f)


def _region(data: Dataset, vary: str, value, k: float):
    """(label, canonical value, bool mask) of one region."""
    if vary in _CUTOFF:
        col, op = _CUTOFF[vary]
        v = _parse_number(value, vary)
        x = _column(data, col, k)
        # A relative tolerance of 1e-9 keeps a cut-off typed as the budget (1e21) from splitting
        # runs whose 6 N D rounds to 9.999999999e20.
        mask = x >= v * (1 - 1e-9) if op == ">=" else x <= v * (1 + 1e-9)
        return f"{col} {op} {v:.4g}", v, mask
    if vary == "tokens-per-param":
        parts = str(value).split(":")
        if len(parts) != 2:
            raise ValueError(f"--vary tokens-per-param: expected 'lo:hi' (e.g. 5:50), got {value!r}")
        lo = _parse_number(parts[0] or "0", vary)
        hi = _parse_number(parts[1] or "inf", vary) if parts[1] else math.inf
        if not lo < hi:
            raise ValueError(f"--vary tokens-per-param: expected lo < hi, got {value!r}")
        r = data.D / data.N
        mask = (r >= lo * (1 - 1e-9)) & (r <= hi * (1 + 1e-9))
        return f"{lo:.4g} <= D/N <= {hi:.4g}", f"{lo:g}:{hi:g}", mask
    if vary == "drop-top-loss":
        kk = _parse_count(value, vary)
        rank = np.argsort(np.argsort(-data.loss, kind="stable"), kind="stable")
        return f"drop {kk} highest-loss", kk, rank >= kk
    if vary == "drop-smallest-models":
        kk = _parse_count(value, vary)
        return f"drop {kk} smallest sizes", kk, model_sizes(data.N) >= kk
    raise ValueError(
        f"unknown region kind {vary!r}; expected one of {sorted(REGION_KINDS)} "
        f"(fitting choices: {sorted(CHOICE_AXES)})"
    )


def region_masks(data: Dataset, vary: str, values: Sequence, *,
                 flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN):
    """Labels, canonical values and (M, n) boolean masks of the regions ``vary`` = each of ``values``.

    Args:
        data: the full dataset.
        vary: one of :data:`REGION_KINDS`.
        values: cut-offs (numbers), counts (drop-*), or ``"lo:hi"`` strings (tokens-per-param).
        flops_per_param_token: k in C = k N D for the compute cut-offs.

    Returns:
        ``(labels, values, masks)``.

    Examples:
        >>> import bayes_scaling as bs
        >>> labels, _, masks = region_masks(bs.example_data(), "min-compute", [1e19, 1e20])
        >>> labels, masks.shape
        (['C >= 1e+19', 'C >= 1e+20'], (2, 81))
    """
    values = list(values)
    if not values:
        raise ValueError(f"--vary {vary}: give at least one value (--values V ...)")
    out = [_region(data, vary, v, flops_per_param_token) for v in values]
    labels = [o[0] for o in out]
    canon = [o[1] for o in out]
    masks = np.stack([o[2] for o in out]).astype(bool)
    return labels, canon, masks


def _reason(n: int, sizes: int, need: int, p: int, needs_sizes: bool) -> str | None:
    if n < need:
        return f"keeps {n} points (need >= {need}: {p} free parameters + 1)"
    if needs_sizes and sizes < 2:
        return (f"keeps {n} points of a single model size (need >= 2 sizes to separate the terms of "
                "the law that read N)")
    return None


def check_regions(data: Dataset, labels: Sequence[str], masks, *, law="chinchilla",
                  min_points: int | None = None, on_invalid: str = "raise") -> list:
    """Why each region cannot be fitted (``None`` when it can).

    A region needs at least ``min_points`` points (default: the law's number of free parameters + 1)
    and, for a law that reads N, two model sizes (:func:`bayes_scaling.bootstrap.model_groups`) to
    separate the N term from the others. With ``on_invalid="raise"`` any bad region raises a
    ``ValueError`` naming every bad region; with ``"skip"`` a warning names them.

    Args:
        data: the full dataset.
        labels: one label per region.
        masks: (M, n) booleans.
        law: the law spec to be fitted (a name, a Law subclass or a Constrained one).
        min_points: override of the minimum number of points.
        on_invalid: "raise" or "skip".

    Returns:
        One reason string (or ``None``) per region.
    """
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip'; got {on_invalid!r}")
    spec = resolve(law)
    p = len(free_names(spec))
    need = p + 1 if min_points is None else int(min_points)
    needs_sizes = "N" in spec.inputs
    masks = np.asarray(masks, dtype=bool)
    groups = model_sizes(data.N)
    reasons = [_reason(int(m.sum()), int(np.unique(groups[m]).size), need, p, needs_sizes) for m in masks]
    bad = [f"{label!r} {r}" for label, r in zip(labels, reasons) if r is not None]
    if bad:
        msg = f"{len(bad)} of {len(reasons)} regions cannot be fitted: " + "; ".join(bad)
        if on_invalid == "raise":
            raise ValueError(msg + ". Remove these values (a Python caller can pass on_invalid='skip' to "
                             "skip them)")
        warnings.warn(msg + "; they are skipped (reported as rejected).", RuntimeWarning, stacklevel=3)
    return reasons
