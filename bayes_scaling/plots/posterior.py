"""The fit's joint distribution: ArviZ pair and trace plots.

* NUTS draws: a pair plot (every two free parameters) and a trace plot (each chain's draws and
  marginal densities), with the central ``level`` interval on the densities.
* Bootstrap replicates: the pair plot of the replicates and each parameter's histogram with its
  central ``level`` interval; replicates have no order, so there is no trace.
* A point fit has one parameter set: the figure lists its estimates (no distribution to draw).

Positive parameters are drawn as log10 values (their fitted scale). Fixed parameters are left out.
"""

from __future__ import annotations

import numpy as np

from ._common import check_level, faded, new_figure, set_title

__all__ = ["plot_posterior", "parameter_draws"]


def parameter_draws(fit) -> dict:
    """``{label: (chain, draw) array}`` of the free parameters, log10 for positive ones."""
    from ..artifacts import law_spec_from_idata
    from ..laws import form_of, free_names

    spec = law_spec_from_idata(fit.idata)
    form = form_of(spec)
    out = {}
    for name in free_names(spec):
        x = np.asarray(fit.idata.posterior[name].values, dtype=np.float64)
        if form.support.get(name) == "positive":
            out[f"log10 {name}"] = np.log10(x)
        else:
            out[name] = x
    return out


def _pair(fig, az, data, names):
    p = len(names)
    if p < 2:
        ax = fig.subplots()
        ax.hist(data[names[0]].values.reshape(-1), bins=30, color=faded("C0", 0.7))
        ax.set_xlabel(names[0])
        return
    axes = np.asarray(fig.subplots(p - 1, p - 1, squeeze=False))
    n = data[names[0]].size
    az.plot_pair(data, var_names=names, kind="scatter", ax=axes if p > 2 else axes[0, 0],
                 scatter_kwargs={"color": faded("C0", 0.4 if n > 300 else 0.7), "s": 4 if n > 300 else 14},
                 textsize=8)


def _intervals(ax, x, level):
    lo, hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2])
    ax.axvline(lo, color="C3", ls="--", lw=0.9)
    ax.axvline(hi, color="C3", ls="--", lw=0.9)


def _trace(fig, az, data, names, level):
    axes = np.asarray(fig.subplots(len(names), 2, squeeze=False))
    az.plot_trace(data, var_names=names, axes=axes, compact=False, plot_kwargs={"textsize": 8})
    for i, name in enumerate(names):
        _intervals(axes[i, 0], data[name].values.reshape(-1), level)
        axes[i, 1].set_xlabel("draw")


def _marginals(fig, data, names, level):
    axes = np.asarray(fig.subplots(len(names), 1, squeeze=False))[:, 0]
    for ax, name in zip(axes, names):
        x = data[name].values.reshape(-1)
        ax.hist(x, bins=min(40, max(8, x.size // 5)), color=faded("C0", 0.7))
        _intervals(ax, x, level)
        ax.set_xlabel(name, fontsize="small")
        ax.set_ylabel("replicates", fontsize="small")


def _point(fit, level):
    from ..artifacts import law_spec_from_idata
    from ..laws import free_names

    names = free_names(law_spec_from_idata(fit.idata))
    fig = new_figure(6.5, 1.4 + 0.45 * len(names))
    ax = fig.subplots()
    ax.axis("off")
    lines = [f"{n} = {float(np.asarray(getattr(fit.law, n))):.6g}" for n in names]
    ax.text(0.05, 0.95, "\n".join(lines), va="top", family="monospace", transform=ax.transAxes)
    set_title(fig, f"Parameters, {fit.label}: one parameter set, no distribution to draw\n"
                 f"(a {level:.0%} interval needs --method bootstrap or nuts)")
    return fig


def plot_posterior(fit, *, level: float = 0.9):
    """Pair and trace plots (NUTS), pair plot and histograms (bootstrap), or the estimates (point).

    Args:
        fit: a :class:`~bayes_scaling.plots.sources.FitSource`.
        level: central interval level marked on the marginals (dashed red lines).
    """
    from ..artifacts import import_arviz

    level = check_level(level)
    if fit.n_sample_dims == 0:
        return _point(fit, level)
    az = import_arviz()
    draws = parameter_draws(fit)
    names = list(draws)
    data = az.convert_to_dataset({k: v for k, v in draws.items()})
    p = len(names)
    fig = new_figure(6 + 2.6 * max(p - 1, 1), 1.2 + 2.0 * max(p - 1, 2))
    left, right = fig.subfigures(1, 2, width_ratios=[max(p - 1, 1), 2.2])
    _pair(left, az, data, names)
    chains, draws_per_chain = data[names[0]].shape
    if fit.method == "nuts":
        _trace(right, az, data, names, level)
        what = f"NUTS posterior, {chains} chains x {draws_per_chain} draws"
        right.suptitle("trace: draws by chain; marginal densities", fontsize="small")
    else:
        _marginals(right, data, names, level)
        what = f"bootstrap, {chains * draws_per_chain} replicates (no order: no trace)"
        right.suptitle("marginal histograms", fontsize="small")
    left.suptitle("pair plot (positive parameters as log10)", fontsize="small")
    set_title(fig, f"Joint distribution of the parameters, {fit.label}: {what}\n"
                 f"dashed red lines: central {level:.0%} interval")
    return fig
