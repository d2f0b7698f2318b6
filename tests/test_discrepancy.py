"""The law-discrepancy predictive intervals (bayes_scaling.prediction.discrepancy)."""

import warnings

import jax
import numpy as np
import pytest
from compute_law import ComputeLaw
from scipy import stats

import bayes_scaling as bs
from bayes_scaling.analysis import backtest as bt
from bayes_scaling.prediction import Discrepancy, learn_discrepancy, predict_loss
from bayes_scaling.prediction.predictive import _predictive_interval

TRUE = ComputeLaw(E=1.7, A=1000.0, alpha=0.15)
C = np.logspace(18, 22, 40)
N = np.sqrt(C / 6 / 20)
D = C / 6 / N


def _data(j, curvature=0.0, noise=0.005):
    """Runs of the compute law, times exp(curvature/2 * (log10 C - 20)^2): a law the fit cannot bend to."""
    ds = bs.simulate(jax.random.key(1000 + j), TRUE, N, D, noise=noise)
    return bs.from_arrays(N, D, ds.loss * np.exp(0.5 * curvature * (np.log10(C) - 20.0) ** 2))


def test_discrepancy_widens_a_gaussian_predictive_by_adding_variances():
    # All samples equal: the predictive of log loss is Normal(mu, sigma^2 + e^2) exactly, so the
    # stratified mixture must reproduce its quantiles (stratification error << 1e-3 of the sd).
    mu = np.full((200, 3), np.log(2.0))
    e = np.array([0.0, 0.01, 0.05])
    lo, hi = _predictive_interval(mu, np.full(200, 0.02), None, 0.9, None, 0, 1, extra_sd=e)
    sd = np.sqrt(0.02**2 + e**2)
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(np.log(hi) - np.log(2.0), z * sd, rtol=2e-3)
    np.testing.assert_allclose(np.log(2.0) - np.log(lo), z * sd, rtol=2e-3)


def test_predict_loss_says_which_kind_of_interval_and_scales_with_the_distance():
    data = bs.from_arrays(N, D, np.asarray(TRUE.loss(C)) * np.exp(0.003 * np.sin(np.arange(40))))
    disc = Discrepancy(0.02, (data.N, data.D))
    q = {"N": np.array([N[-1], N[-1] * 10]), "D": np.array([D[-1], D[-1] * 10])}
    kw = dict(sigma=np.full(8, 0.01), data=data)
    law = ComputeLaw(E=np.full(8, 1.7), A=np.full(8, 1000.0), alpha=np.full(8, 0.15))
    new = predict_loss(law, **q, discrepancy=disc, **kw)
    old = predict_loss(law, **q, intervals="exact-law", **kw)
    assert new.meta["intervals"] == "discrepancy" and old.meta["intervals"] == "exact-law"
    assert any("discrepancy" in n for n in new.notes) and any("exact-law" in n for n in old.notes)
    # inside the data: no discrepancy. N and D 10x beyond the data's largest: 1 decade beyond ranges
    # 2 decades wide (N, D), 2 decades of C beyond a range 4 wide: reach max(1 (2 + 1), 2 (4 + 2)) = 12
    np.testing.assert_allclose(new["discrepancy_sd"], [0.0, 0.02 * 12], rtol=1e-9)
    assert new["predictive_upper"][0] == pytest.approx(old["predictive_upper"][0], rel=1e-6)
    assert new["predictive_upper"][1] > old["predictive_upper"][1]
    with pytest.warns(RuntimeWarning, match="assume the law is exact"):
        fallback = predict_loss(law, **q, sigma=np.full(8, 0.01))
    assert fallback.meta["intervals"] == "exact-law"


def test_learned_scale_is_zero_when_the_law_holds_and_grows_with_a_bend():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        exact = learn_discrepancy(_data(0), ComputeLaw)
        bent = learn_discrepancy(_data(0, curvature=0.06), ComputeLaw)
    assert exact.n_cuts == 4 and exact.n_scored > 0  # compute cuts only: the law does not read N
    # a law that holds: internal errors are noise + parameter error, so tau is at most small
    assert exact.scale <= 0.01
    assert bent.scale > 5 * max(exact.scale, 1e-3)
    assert all(c["axis"] == "compute" for c in bent.cuts)


def test_backtest_keeps_its_row_format_and_reports_both_kinds():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = bt.backtest(_data(1, curvature=0.06), above_compute=1e21, method="bootstrap", law=ComputeLaw,
                        key=jax.random.key(0), replicates=16)
    assert list(t.columns) == bt.BACKTEST_COLUMNS
    assert t.meta["intervals"] == "discrepancy" and t.meta["discrepancy"]["scale"] > 0
    assert set(t.meta["exact_law_coverage"]) == {"0.5", "0.9"} and t.meta["fit"]["pooled"]
    for r in t:
        assert r["lower_90"] <= r["exact_law_lower_90"] and r["upper_90"] >= r["exact_law_upper_90"]
        assert r["discrepancy_sd"] > 0 and r["in_90"] == (r["lower_90"] <= r["loss"] <= r["upper_90"])


def test_a_step_with_too_many_failed_replicates_is_not_pooled(monkeypatch):
    real = bt.fit_regions

    def failing(*args, **kwargs):  # the real fits, reported with 0% and 60% failed replicates
        fits = real(*args, **kwargs)
        info = [dict(i) for i in fits.info]
        info[0]["failed"], info[1]["failed"] = 0, int(0.6 * info[1]["replicates"])
        return fits._replace(info=info)

    monkeypatch.setattr(bt, "fit_regions", failing)
    with pytest.warns(RuntimeWarning, match="not pooled"):
        t = bt.rolling_backtest(_data(2), thresholds=[1e20, 1e21], method="bootstrap", law=ComputeLaw,
                                key=jax.random.key(0), replicates=10, intervals="exact-law")
    steps = t.meta["steps"]
    assert [s["pooled"] for s in steps] == [True, False] and t.meta["excluded_steps"] == [1e21]
    assert steps[1]["failed"] == 6 and steps[1]["coverage"] is None
    first = [r for r in t if r["threshold"] == 1e20]
    assert t.meta["coverage"]["0.9"] == pytest.approx(np.mean([r["in_90"] for r in first]))
    assert len(t) == steps[0]["n_holdout"] + steps[1]["n_holdout"]  # the rows stay in the table
