"""Figures of fits, allocations, backtests and sensitivity studies (matplotlib; import explicitly:
``from bayes_scaling import plots``; importing the package never loads matplotlib)."""

from .fits import plot_allocation, plot_fit

__all__ = ["plot_fit", "plot_allocation"]
