"""What every figure shares: a pyplot-free figure, sample quantiles, fan bands and saving.

Figures are :class:`matplotlib.figure.Figure` objects built without pyplot, so they touch no global
state and need no display: saving renders them with Agg (PNG) or the vector backends (SVG, PDF).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["FORMATS", "new_figure", "flat_samples", "quantile_band", "fan", "level_text", "save_figure",
           "check_level", "INNER_LEVEL", "set_title", "faded", "GRID"]

FORMATS = (".png", ".svg", ".pdf")
INNER_LEVEL = 0.5  # the inner band of a fan chart; the outer one is the figure's level
_OPACITY = {0: 0.18, 1: 0.35}


def check_level(level: float) -> float:
    """An interval level in (0, 1), else ``ValueError``."""
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")
    return level


def new_figure(width: float, height: float, **kwargs):
    """A :class:`~matplotlib.figure.Figure` with a constrained layout, not registered with pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def flat_samples(x, n_sample_dims: int) -> np.ndarray:
    """``x`` with its leading ``n_sample_dims`` sample dimensions flattened into one (1 for a point)."""
    x = np.asarray(x, dtype=np.float64)
    return x.reshape((-1,) + x.shape[n_sample_dims:])


def quantile_band(flat: np.ndarray, level: float):
    """``(lower, upper)`` of the central ``level`` interval over the first axis (NaN-skipping)."""
    return tuple(np.nanquantile(flat, [(1 - level) / 2, (1 + level) / 2], axis=0))


def fan(ax, x, samples, n_sample_dims: int, level: float, color, label: str):
    """Median line with the 50% and ``level`` central bands of ``samples`` (a line only for a point).

    Returns the fraction of samples that were NaN (a numerical allocation that found no interior
    optimum), for the caller to report.
    """
    from matplotlib.colors import to_rgba

    flat = flat_samples(samples, n_sample_dims)
    nan_frac = float(np.mean(np.isnan(flat))) if flat.size else 0.0
    med = np.nanmedian(flat, axis=0) if flat.shape[0] > 1 else flat[0]
    ax.plot(x, med, color=color, lw=1.8, label=f"{label}: median" if n_sample_dims else f"{label}: point fit")
    if n_sample_dims:
        for i, lv in enumerate(sorted({INNER_LEVEL, level}, reverse=True)):
            lo, hi = quantile_band(flat, lv)
            ax.fill_between(x, lo, hi, facecolor=to_rgba(color, _OPACITY[min(i, 1)]), lw=0,
                            label=f"{label}: {lv:.0%} interval")
    return nan_frac


def level_text(n_sample_dims: int, level: float, method: str, inner: bool = True) -> str:
    """The interval note of a title: the levels shown (with the 50% band of a fan chart when
    ``inner``), or that a point fit has none."""
    if not n_sample_dims:
        return f"{method} fit: estimate only, no interval"
    if inner:
        return f"{method}: median with central {INNER_LEVEL:.0%} and {level:.0%} intervals"
    return f"{method}: median with central {level:.0%} interval"


def faded(color, opacity: float):
    """``color`` as RGBA with the given opacity (how every figure sets transparency)."""
    from matplotlib.colors import to_rgba

    return to_rgba(color, opacity)


GRID = "0.88"  # the colour of grid lines


def set_title(fig, text: str) -> None:
    """The figure's title, each line wrapped to the figure's width (so that none is clipped)."""
    import textwrap

    width = max(30, int(fig.get_figwidth() * 12.5))
    lines = [w for line in text.splitlines() for w in (textwrap.wrap(line, width) or [""])]
    fig.suptitle("\n".join(lines), fontsize="medium")


def save_figure(fig, path, *, dpi: int = 120, overwrite: bool = True) -> str:
    """Write ``fig`` to ``path`` (.png, .svg or .pdf, from its extension), atomically (``overwrite=False``
    never replaces an existing file; see :func:`~bayes_scaling.artifacts.write_atomic`).

    Raises:
        ValueError: for any other extension (naming the ones accepted).
    """
    from ..artifacts import write_atomic

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"cannot write a figure to {path}: expected a file name ending in "
                         f"{', '.join(FORMATS)}; got {ext or 'no extension'!r}")
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=ext[1:], dpi=dpi), overwrite=overwrite)
    return path
