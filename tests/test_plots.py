"""Plots draw what the numbers say (Agg backend, no display)."""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling import plots  # noqa: E402
from bayes_scaling.predict import allocate  # noqa: E402


def test_plot_allocation_median_line_and_band_match_allocate():
    key = jax.random.key(0)
    noise = 0.01 * jax.random.normal(key, (50, 5))
    x = bs.HOFFMANN_2022.to_unconstrained() + noise
    laws = bs.Chinchilla.from_unconstrained(x)
    C = np.logspace(20, 25, 7)
    ax = plots.plot_allocation(laws, C, level=0.8)
    line = ax.get_lines()[0]
    expected = np.median(np.asarray(allocate(laws, C).N_opt), axis=0)
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)
    assert len(ax.collections) == 2  # one band each for N_opt and D_opt


def test_plot_fit_point_law_draws_frontier_without_band():
    ds = bs.example_data()
    ax = plots.plot_fit(ds, bs.HOFFMANN_2022)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), np.asarray(allocate(bs.HOFFMANN_2022, line.get_xdata()).loss))
    assert ax.get_xscale() == "log"
