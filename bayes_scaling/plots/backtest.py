"""Predicted against observed loss for held-out runs, with their predictive intervals.

Two sources give the same figure:

* a backtest result: the :class:`~bayes_scaling.tables.Table` of
  :func:`bayes_scaling.analysis.backtest` (or :func:`rolling_backtest`), or its JSON as printed by
  ``bayes-scaling backtest --json`` (50% and 90% predictive intervals; a rolling backtest draws
  one colour per threshold);
* a fit and runs it did not see (:func:`backtest_from_fit`): every run not among the fitted ones is
  predicted with the fit's noise model (:func:`bayes_scaling.prediction.predict_loss`) at 50% and at
  ``level``.

A point fit has no noise model, so its predictions carry no interval and no coverage.
"""

from __future__ import annotations

import re

import numpy as np

from ._common import GRID, INNER_LEVEL, check_level, faded, new_figure, set_title
from .sources import held_out_mask

__all__ = ["plot_backtest", "backtest_from_fit", "backtest_levels"]

_LEVEL_COL = re.compile(r"^lower_(\d+)$")


def _discrepancy_of(fit, k):
    """The discrepancy learned for the law spec the artifact was fitted with (its constraints too, so a
    constrained fit keeps the factor alone), or None to let predict_loss decide (no data, no noise)."""
    from ..artifacts import law_spec_from_idata
    from ..prediction import learn_discrepancy

    if fit.sigma is None or fit.idata is None or getattr(fit.data, "loss", None) is None:
        return None
    disc = learn_discrepancy(fit.data, law_spec_from_idata(fit.idata), flops_per_param_token=k)
    return disc if disc.n_cuts else None


def backtest_from_fit(fit, runs, *, level: float = 0.9, flops_per_param_token: float = 6.0) -> dict:
    """Predict the runs of ``runs`` that ``fit`` did not see; a backtest-shaped result (a dict with
    ``rows``, ``method``, ``coverage``) for :func:`plot_backtest`.

    Raises:
        ValueError: when every run of ``runs`` is among the fitted ones.
    """
    from ..prediction import predict_loss

    level = check_level(level)
    held = held_out_mask(runs, fit.data)
    if not held.any():
        raise ValueError(f"all {runs.n} runs given are among the runs {fit.name} was fitted on; a backtest "
                         "plot needs runs the fit did not see (or a backtest result: backtest --json)")
    k = float(flops_per_param_token)
    test = runs.subset(held)
    query = {name: test.column(name) for name in type(fit.law).inputs}
    query.setdefault("N", test.N)
    query.setdefault("D", test.D)
    rows = [{"N": float(n), "D": float(d), "C": float(k * n * d), "loss": float(y)}
            for n, d, y in zip(test.N, test.D, test.loss)]
    coverage = {}
    disc = _discrepancy_of(fit, k)
    for lv in sorted({INNER_LEVEL, level}):
        t = predict_loss(fit.law, **query, sigma=fit.sigma, nu=fit.nu, level=lv, data=fit.data,
                         flops_per_param_token=k, discrepancy=disc)
        tag = f"{round(100 * lv)}"
        lo, hi = np.asarray(t["predictive_lower"]), np.asarray(t["predictive_upper"])
        for i, r in enumerate(rows):
            c = float(np.asarray(t["predictive_centre"])[i])
            r["predicted"] = c if np.isfinite(c) else float(np.asarray(t["estimate"])[i])
            r[f"lower_{tag}"] = float(lo[i]) if np.isfinite(lo[i]) else None
            r[f"upper_{tag}"] = float(hi[i]) if np.isfinite(hi[i]) else None
        if np.isfinite(lo).all():
            coverage[str(lv)] = float(np.mean((lo <= test.loss) & (test.loss <= hi)))
    err = np.array([(r["predicted"] - r["loss"]) / r["loss"] for r in rows])
    return {"rows": rows, "method": fit.method, "law": type(fit.law).name, "coverage": coverage or None,
            "intervals": t.meta["intervals"], "discrepancy": t.meta["discrepancy"],
            "mean_abs_rel_error": float(np.mean(np.abs(err))), "n_holdout": len(rows),
            "n_train": None if fit.data is None else fit.data.n, "source": fit.name,
            "problems": list(fit.problems)}


def backtest_levels(rows) -> list[float]:
    """The interval levels a backtest's rows carry (``lower_50`` -> 0.5), with any value present."""
    tags = sorted({int(m.group(1)) for r in rows for key in r if (m := _LEVEL_COL.match(key))})
    return [t / 100 for t in tags if any(r.get(f"lower_{t}") is not None for r in rows)]


def _as_result(result) -> dict:
    from ..tables import Table

    if isinstance(result, Table):
        result = result.to_dict()
    if not isinstance(result, dict) or not isinstance(result.get("rows"), list):
        raise ValueError("a backtest plot needs a backtest result (a Table, or the JSON of backtest --json "
                         "with its 'rows'); got " + type(result).__name__)
    rows = result["rows"]
    need = ("loss", "predicted")
    bad = [i for i, r in enumerate(rows) if not all(isinstance(r.get(c), (int, float)) for c in need)]
    if not rows or bad:
        raise ValueError("the backtest result has no held-out rows" if not rows else
                         f"backtest row {bad[0]} lacks a numeric 'loss' or 'predicted'")
    return result


def _bars(ax, x, y, rows, levels, color, label):
    widths = {lv: 0.8 + 2.2 * (lv == min(levels)) for lv in levels} if levels else {}
    for lv in sorted(levels, reverse=True):
        tag = round(100 * lv)
        lo = np.array([np.nan if r.get(f"lower_{tag}") is None else r[f"lower_{tag}"] for r in rows])
        hi = np.array([np.nan if r.get(f"upper_{tag}") is None else r[f"upper_{tag}"] for r in rows])
        ax.vlines(x, lo, hi, color=faded(color, 0.6), lw=widths[lv])
    ax.scatter(x, y, color=color, s=22, zorder=3, label=label)


def _title(result, levels) -> str:
    method = result.get("method", "unknown")
    n = len(result["rows"])
    law = result.get("law", "law")
    head = f"Backtest: predicted vs observed loss of {n} held-out runs\n{law} {method} fit"
    if result.get("n_train") is not None:
        head += f" on {result['n_train']} runs"
    if result.get("problems"):
        head += " NOT RELIABLE"
    cov = result.get("coverage") or {}
    if levels:
        shown = " / ".join(f"{lv:.0%}" for lv in sorted(levels))
        kind = result.get("intervals")
        factor = (result.get("discrepancy") or {}).get("factor")
        comp = (result.get("discrepancy") or {}).get("companion")
        moved = f", centre {comp['weight']:.2f} toward {comp['law']}" if comp else ""
        kind = {"discrepancy": "allowing for law discrepancy" + (f", x{factor:.2f}" if factor else "") + moved,
                "exact-law": "exact-law"}.get(kind, kind)
        bars = f"thick/thin bars: {shown} predictive intervals" + (f" ({kind})" if kind else "")
        covs = ", ".join(f"{float(k):.0%}: {v:.2f}"
                         for k, v in sorted(cov.items(), key=lambda kv: float(kv[0])) if v is not None)
        tail = f"{bars}\ncoverage {covs}" if covs else bars + "\n"
    else:
        tail = "point fit: predictions only, no interval (no noise model)\n"
    mare = result.get("mean_abs_rel_error")
    if mare is not None:
        tail += ("; " if tail.split("\n")[-1] else "") + f"mean |relative error| {mare:.4f}"
    return f"{head}\n{tail}"


def plot_backtest(result):
    """Predicted against observed loss of held-out runs, with 50% (thick) and outer (thin) intervals.

    Args:
        result: a backtest :class:`~bayes_scaling.tables.Table`, its JSON dict (``backtest --json``)
            or the dict of :func:`backtest_from_fit`.
    """
    result = _as_result(result)
    rows = result["rows"]
    levels = backtest_levels(rows)
    fig = new_figure(7.5, 6.8)
    ax = fig.subplots()
    thresholds = sorted({r.get("threshold") for r in rows if r.get("threshold") is not None})
    by = "C" if result.get("by", "compute") == "compute" else "N"
    if len(thresholds) > 1:
        from matplotlib import colormaps

        cmap = colormaps["plasma"]
        for j, t in enumerate(thresholds):
            sub = [r for r in rows if r.get("threshold") == t]
            color = cmap(0.85 * j / (len(thresholds) - 1))
            _bars(ax, [r["loss"] for r in sub], [r["predicted"] for r in sub], sub, levels, color,
                  f"fit on {by} <= {t:.3g}")
    else:
        label = "held-out runs" + (f" (fit on {by} <= {thresholds[0]:.3g})" if thresholds else "")
        _bars(ax, [r["loss"] for r in rows], [r["predicted"] for r in rows], rows, levels, "C0", label)
    obs = np.array([r["loss"] for r in rows] + [r["predicted"] for r in rows], dtype=np.float64)
    lo, hi = float(np.nanmin(obs)), float(np.nanmax(obs))
    pad = 0.05 * (hi - lo) if hi > lo else 0.05 * hi
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", lw=0.8, ls="--",
            label="predicted = observed")
    ax.set_xlabel("observed final loss")
    ax.set_ylabel("predicted final loss")
    ax.grid(True, color=GRID)
    ax.legend(fontsize="small", loc="upper left")
    set_title(fig, _title(result, levels))
    return fig
