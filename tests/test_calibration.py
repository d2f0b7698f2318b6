"""Simulation-based calibration helper: bookkeeping checked with fits whose coverage is known."""

import math

import jax
import numpy as np
import pytest

from bayes_scaling import HOFFMANN_2022
from bayes_scaling.analysis.calibration import Scenario, coverage, format_table, quantities
from bayes_scaling.data import chinchilla_design
from bayes_scaling.laws import Chinchilla

SD = {"E": 0.02, "A": 20.0, "B": 20.0, "alpha": 0.01, "beta": 0.01}


def _exact_fit(truth):
    """A 'posterior' N(truth + offset, sd^2) per parameter with offset ~ N(0, sd^2): for E, alpha
    and beta the truth falls in the central `level` interval with probability exactly `level`."""

    def fit(key, data):
        k_off, k_draw = jax.random.split(key)
        off = jax.random.normal(k_off, (5,))
        z = jax.random.normal(k_draw, (2000, 5))
        leaves = {name: float(getattr(truth, name)) + SD[name] * (off[i] + z[:, i])
                  for i, name in enumerate(Chinchilla.names)}
        return Chinchilla(**{k: np.asarray(v) for k, v in leaves.items()})

    return fit


def test_nominal_coverage_for_an_exact_method():
    """200 datasets: |coverage - level| within 4 binomial SEs (SE = sqrt(l(1-l)/200) <= 0.035)."""
    N, D = chinchilla_design(budgets=(1e19, 1e20, 1e21), sizes_per_budget=4)
    sc = [Scenario(HOFFMANN_2022, N, D, noise=0.01, label="a"),
          Scenario(HOFFMANN_2022, N, D, noise=0.02, label="b")]
    res = coverage(jax.random.key(0), sc, _exact_fit(HOFFMANN_2022), replicates=100, levels=(0.5, 0.9))
    assert not res.failures and len(res.records) == 200
    assert res.quantities == ("E", "A", "B", "alpha", "beta", "a", "b", "N_opt(1e+24)")
    for row in res.table:
        assert row["n"] == 200
        assert row["se"] == pytest.approx(math.sqrt(row["coverage"] * (1 - row["coverage"]) / 200))
        if row["quantity"] in ("E", "alpha", "beta"):
            assert abs(row["z"]) < 4, row
    assert {r["scenario"] for r in res.by_scenario} == {"a", "b"}
    text = format_table(res)
    assert text.startswith("| quantity | nominal 50% | nominal 90% |") and "N_opt(1e+24)" in text
    assert "| b | E |" in format_table(res, by_scenario=True)


def test_failed_fits_are_counted_not_hidden():
    N, D = chinchilla_design(budgets=(1e19, 1e20), sizes_per_budget=4)
    calls = {"n": 0}
    exact = _exact_fit(HOFFMANN_2022)

    def flaky(key, data):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError("sampler exploded")
        return exact(key, data)

    res = coverage(jax.random.key(1), [Scenario(HOFFMANN_2022, N, D, 0.01)], flaky, replicates=9)
    assert len(res.failures) == 3 and len(res.records) == 6
    assert "sampler exploded" in res.failures[0]["error"]
    assert all(row["n"] == 6 for row in res.table)


def test_point_laws_and_bad_levels_are_rejected():
    N, D = chinchilla_design(budgets=(1e19, 1e20), sizes_per_budget=4)
    sc = [Scenario(HOFFMANN_2022, N, D, 0.01)]
    res = coverage(jax.random.key(2), sc, lambda k, d: HOFFMANN_2022, replicates=2)
    assert len(res.failures) == 2 and "leading sample dimensions" in res.failures[0]["error"]
    with pytest.raises(ValueError, match="levels must lie in"):
        coverage(jax.random.key(2), sc, _exact_fit(HOFFMANN_2022), levels=(0.5, 1.2))


def test_n_opt_matches_the_published_closed_form():
    # ../shared/TARGETS.md §3: Hoffmann's rounded law, C = 1e24 -> N_opt = 4.1297e10, a = 0.45161
    q = quantities(HOFFMANN_2022, 1e24)
    assert float(q["N_opt(1e+24)"]) == pytest.approx(4.1297e10, rel=1e-4)
    assert float(q["a"]) == pytest.approx(0.45161, abs=1e-5)
