"""A forest plot of one reported quantity per fit region (or per fitting choice).

Reads the :class:`~bayes_scaling.tables.Table` of :func:`bayes_scaling.analysis.sweep` or
:func:`~bayes_scaling.analysis.fitting_choices`, or its JSON (``bayes-scaling sensitivity --json``).
Each row is one fit: its estimate, and its central interval (``<q>_lower``, ``<q>_upper``) when the
method has one (bootstrap, NUTS). The default quantity is D/N at the study's budget
(``tokens_per_param``); any reported quantity (a parameter, a derived quantity, ``N_opt``) can be
drawn instead. Rows rejected by the study (too few points to fit) are listed with their reason.
"""

from __future__ import annotations

import numpy as np

from ._common import GRID, faded, new_figure, set_title

__all__ = ["plot_sensitivity", "quantity_label"]

_LABELS = {
    "tokens_per_param": "compute-optimal tokens per parameter D/N",
    "N_opt": "compute-optimal parameters N_opt",
}


def quantity_label(name: str) -> str:
    """An axis label for a reported quantity."""
    return _LABELS.get(name, name)


def _as_dict(result) -> dict:
    from ..tables import Table

    if isinstance(result, Table):
        result = result.to_dict()
    if not isinstance(result, dict) or not isinstance(result.get("rows"), list) or not result["rows"]:
        raise ValueError("a sensitivity plot needs a sensitivity result with rows (a Table, or the JSON of "
                         "sensitivity --json); got " + (type(result).__name__ if not isinstance(result, dict)
                                                        else "no rows"))
    return result


def _row_label(r) -> str:
    if "region" in r:
        return str(r["region"])
    return " ".join(str(r[c]) for c in ("axis", "choice") if r.get(c) is not None) or "fit"


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan


def plot_sensitivity(result, quantity: str = "tokens_per_param"):
    """Forest plot of ``quantity`` per row (fit region or fitting choice) with its interval.

    Raises:
        ValueError: when the result does not report ``quantity`` (naming those it does).
    """
    result = _as_dict(result)
    rows = result["rows"]
    cols = result.get("columns") or list(rows[0])
    if quantity not in cols:
        reported = result.get("quantities") or [c for c in cols if f"{c}_lower" in cols]
        raise ValueError(f"the sensitivity result does not report {quantity!r}; it reports "
                         f"{', '.join(map(str, reported)) or 'no quantities'}")
    est = np.array([_num(r.get(quantity)) for r in rows])
    lo = np.array([_num(r.get(f"{quantity}_lower")) for r in rows])
    hi = np.array([_num(r.get(f"{quantity}_upper")) for r in rows])
    labels = [_row_label(r) for r in rows]
    rejected = [(i, r["rejected"]) for i, r in enumerate(rows)
                if isinstance(r.get("rejected"), str) and r["rejected"]]
    fig = new_figure(8.5, 1.9 + 0.42 * len(rows))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    ok = np.isfinite(est)
    has_iv = ok & np.isfinite(lo) & np.isfinite(hi)
    if has_iv.any():
        ax.hlines(y[has_iv], lo[has_iv], hi[has_iv], color=faded("C0", 0.7), lw=2.2)
    ax.plot(est[ok], y[ok], "o", color="C0", ms=6)
    for i, reason in rejected:
        ax.text(0.02, y[i], f"rejected: {reason}", transform=ax.get_yaxis_transform(), va="center",
                fontsize="x-small", color="C3")
    ax.set_yticks(y, labels)
    ax.set_xlabel(quantity_label(quantity))
    finite = np.concatenate([est[ok], lo[has_iv], hi[has_iv]])
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
        ax.set_xscale("log")
    ax.grid(True, axis="x", color=GRID)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    method = result.get("method") or "point"
    level = result.get("level")
    region = result.get("vary") and "region" in rows[0]
    what = f"fit region ({result['vary']})" if region else "fitting choice"
    head = f"Sensitivity of {quantity} per {what}, {result.get('law', 'law')} {method} fits"
    if result.get("budget") is not None and quantity in _LABELS:
        head += f", at C = {float(result['budget']):.3g} FLOP"
    if has_iv.any() and level is not None:
        tail = f"dots: estimate (median over samples); bars: central {float(level):.0%} interval"
    else:
        tail = "dots: point estimates, no interval (point fits)"
    if result.get("reliable") is False:
        head += " NOT RELIABLE"
    set_title(fig, f"{head}\n{tail}")
    return fig
