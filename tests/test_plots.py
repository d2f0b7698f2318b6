"""Plots draw what the numbers say (Agg backend, no display)."""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling import plots  # noqa: E402
from bayes_scaling.prediction import allocate  # noqa: E402


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


class PowerC(bs.Law):
    r"""A compute-only law :math:`L(C) = E + A C^{-\alpha}` (inputs ``("C",)``), defined here."""

    name = "power_c_plot_test"
    names = ("E", "A", "alpha")
    inputs = ("C",)
    support = {n: "positive" for n in names}

    def loss(self, C):
        return self.E + self.A * C ** -self.alpha


def test_plot_fit_compute_only_law_draws_the_law_and_allocation_refuses_it():
    ds = bs.example_data()
    law = PowerC(E=1.8, A=2000.0, alpha=0.15)
    ax = plots.plot_fit(ds, law)
    line = ax.get_lines()[0]
    C = line.get_xdata()
    np.testing.assert_allclose(line.get_ydata(), 1.8 + 2000.0 * C**-0.15, rtol=1e-13)
    assert line.get_label() == "law"
    with pytest.raises(ValueError, match="inputs include N and D"):
        plots.plot_allocation(law, [1e22])
