"""The default predictive intervals that allow for the law's discrepancy (bayes_scaling.prediction.discrepancy)."""

import warnings

import jax
import numpy as np
import pytest
from compute_law import ComputeLaw

import bayes_scaling as bs
from bayes_scaling.analysis import backtest as bt
from bayes_scaling.prediction import Discrepancy, learn_discrepancy, predict_loss
from bayes_scaling.prediction.discrepancy import widen

TRUE = ComputeLaw(E=1.7, A=1000.0, alpha=0.15)
C = np.logspace(18, 22, 40)
N = np.sqrt(C / 6 / 20)
D = C / 6 / N


def _data(j, curvature=0.0, noise=0.005):
    """Runs of the compute law, times exp(curvature/2 * (log10 C - 20)^2): a law the fit cannot bend to."""
    ds = bs.simulate(jax.random.key(1000 + j), TRUE, N, D, noise=noise)
    return bs.from_arrays(N, D, ds.loss * np.exp(0.5 * curvature * (np.log10(C) - 20.0) ** 2))


def test_widen_scales_log_distances_from_the_centre():
    lo, hi = widen(np.array([1.8, 1.9]), np.array([2.2, 2.1]), np.array([2.0, 2.0]), np.array([1.0, 2.0]))
    np.testing.assert_allclose(lo, [1.8, 2.0 * (1.9 / 2.0) ** 2], rtol=1e-12)
    np.testing.assert_allclose(hi, [2.2, 2.0 * (2.1 / 2.0) ** 2], rtol=1e-12)
    # a centre outside the interval (a skewed mixture's narrow interval) is moved to its edge first
    lo, hi = widen(2.1, 2.2, 2.0, 2.0)
    assert lo == pytest.approx(2.1) and hi == pytest.approx(2.1 * (2.2 / 2.1) ** 2)
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="finite and > 0"):
            widen(1.8, 2.2, 2.0, bad)


def test_predict_loss_says_which_kind_of_interval_and_applies_the_factor():
    data = bs.from_arrays(N, D, np.asarray(TRUE.loss(C)) * np.exp(0.003 * np.sin(np.arange(40))))
    disc = Discrepancy(1.7)
    q = {"N": np.array([N[-1], N[-1] * 10]), "D": np.array([D[-1], D[-1] * 10])}
    kw = dict(sigma=np.full(8, 0.01), data=data)
    law = ComputeLaw(E=np.linspace(1.69, 1.71, 8), A=np.full(8, 1000.0), alpha=np.full(8, 0.15))
    new = predict_loss(law, **q, discrepancy=disc, **kw)
    old = predict_loss(law, **q, intervals="exact-law", **kw)
    assert new.meta["intervals"] == "discrepancy" and old.meta["intervals"] == "exact-law"
    assert any("discrepancy" in n for n in new.notes) and any("exact-law" in n for n in old.notes)
    np.testing.assert_array_equal(new["width_factor"], [1.7, 1.7])
    np.testing.assert_array_equal(old["width_factor"], [1.0, 1.0])
    # the exact-law interval's log distances from the estimate, times 1.7
    c = np.log(old["estimate"])
    np.testing.assert_allclose(np.log(new["predictive_upper"]) - c, 1.7 * (np.log(old["predictive_upper"]) - c),
                               rtol=1e-12)
    np.testing.assert_allclose(c - np.log(new["predictive_lower"]), 1.7 * (c - np.log(old["predictive_lower"])),
                               rtol=1e-12)
    with pytest.warns(RuntimeWarning, match="assume the law is exact"):
        fallback = predict_loss(law, **q, sigma=np.full(8, 0.01))
    assert fallback.meta["intervals"] == "exact-law"


def test_learned_factor_is_near_one_when_the_law_holds_and_grows_with_a_bend():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        exact = [learn_discrepancy(_data(j), ComputeLaw) for j in range(16)]
        bent = [learn_discrepancy(_data(j, curvature=0.06), ComputeLaw) for j in range(6)]
    assert all(d.n_cuts == 4 and d.n_scored > 0 for d in exact)  # compute cuts only: the law does not read N
    assert all(c["axis"] == "compute" for d in bent for c in d.cuts)
    # a law that holds: the refits' standardised errors have unit variance, so E[kappa^2] = 1 (the
    # delta method is first-order; tolerance: 4 Monte-Carlo standard errors of the mean over datasets)
    k2 = np.array([d.factor ** 2 for d in exact])
    assert abs(k2.mean() - 1.0) <= 4 * k2.std(ddof=1) / np.sqrt(k2.size)
    # a bend the law cannot follow: the refits miss by more than their own intervals allow
    assert min(d.factor for d in bent) > max(d.factor for d in exact)


def test_tested_reach_is_the_farthest_internal_extrapolation():
    from bayes_scaling.prediction.discrepancy import tested_reach

    data = bs.from_arrays(N, D, np.asarray(TRUE.loss(C)))
    half, most = np.arange(40) < 20, np.arange(40) < 30
    # N and D both grow as sqrt(C) here, so the compute distance is the largest: log10 C_last / C_kept
    assert tested_reach(data, [half]) == pytest.approx(np.log10(C[-1] / C[19]), rel=1e-12)
    assert tested_reach(data, [most, half]) == pytest.approx(np.log10(C[-1] / C[19]), rel=1e-12)
    assert tested_reach(data, [most]) == pytest.approx(np.log10(C[-1] / C[29]), rel=1e-12)
    assert np.isnan(tested_reach(data, []))


def test_predict_loss_flags_queries_beyond_the_tested_reach():
    data = bs.from_arrays(N, D, np.asarray(TRUE.loss(C)))
    law = ComputeLaw(E=np.linspace(1.69, 1.71, 8), A=np.full(8, 1000.0), alpha=np.full(8, 0.15))
    q = {"N": np.array([N[-1], N[-1] * 10]), "D": np.array([D[-1], D[-1] * 10])}  # 0 and 2 decades out (in C)
    kw = dict(sigma=np.full(8, 0.01), data=data)
    t = predict_loss(law, **q, discrepancy=Discrepancy(1.7, 4, 40, reach=0.5), **kw)
    np.testing.assert_allclose(t["extrapolation_decades"], [0.0, 2.0], atol=1e-12)
    np.testing.assert_array_equal(t["tested_reach_decades"], [0.5, 0.5])
    assert any(n.startswith("beyond the tested reach: 1 of 2 queries") for n in t.notes)
    inside = predict_loss(law, **q, discrepancy=Discrepancy(1.7, 4, 40, reach=2.5), **kw)
    assert any(n.startswith("tested reach: every query lies within 2.50") for n in inside.notes)
    exact = predict_loss(law, **q, intervals="exact-law", **kw)  # no factor, so no reach
    assert np.isnan(exact["tested_reach_decades"]).all() and not any("reach" in n for n in exact.notes)


def test_predict_text_marks_the_points_beyond_the_tested_reach():
    from bayes_scaling.cli.predict import Source
    from bayes_scaling.cli.predict_report import format_report

    row = {"N": 1e9, "D": 2e10, "estimate": 2.5, "lower": 2.4, "upper": 2.6, "predictive_lower": 2.3,
           "predictive_upper": 2.7, "predictive_centre": 2.5, "width_factor": 1.3, "tested_reach_decades": 1.2}
    rep = {"level": 0.9, "intervals": "discrepancy", "allocation": [], "exponents": {}, "target": None,
           "discrepancy": {"factor": 1.3, "n_cuts": 8, "tested_reach_decades": 1.2},
           "loss": [{**row, "extrapolation_decades": 0.4}, {**row, "extrapolation_decades": 2.0}]}
    src = Source(bs.HOFFMANN_2022, 0.01, None, None, "test", spec=bs.Chinchilla)
    text = format_report(rep, src)
    assert "2.00*" in text and "0.40*" not in text
    assert "beyond the tested reach: 1 of 2 points lie more than 1.20 decades outside the data" in text
    rep["loss"][1]["extrapolation_decades"] = 1.0
    assert "beyond the tested reach" not in format_report(rep, src)


def test_factor_alone_reaches_the_learner_from_predict_and_backtest_and_is_refused_with_other_kinds(monkeypatch, capsys):
    import bayes_scaling.prediction.discrepancy as dm
    from bayes_scaling import cli
    from bayes_scaling import prediction as P
    from bayes_scaling.cli.predict import Source
    from bayes_scaling.cli.predict_report import build_report

    seen = []

    def learn(data, law="chinchilla", **kw):
        seen.append(kw.get("stacked_centre", True))
        return Discrepancy(1.5, 3, 30, reach=1.0)

    monkeypatch.setattr(P, "learn_discrepancy", learn)
    monkeypatch.setattr(dm, "learn_discrepancy", learn)
    data = _data(0)
    law = ComputeLaw(E=np.linspace(1.69, 1.71, 8), A=np.full(8, 1000.0), alpha=np.full(8, 0.15))
    src = Source(law, np.full(8, 0.01), None, data, "test", spec=ComputeLaw, observed=True)
    rep = build_report(src, at=[(N[-1] * 10, D[-1] * 10)], stacked_centre=False)
    assert seen == [False] and rep["discrepancy"]["kind"] == "width-factor" and rep["loss"][0]["width_factor"] == 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = bt.backtest(data, above_compute=1e21, method="bootstrap", law=ComputeLaw, key=jax.random.key(0),
                        replicates=4, stacked_centre=False)
    assert seen == [False, False] and t.meta["discrepancy"]["factor"] == 1.5
    for args in (["--intervals", "exact-law"], ["--average-with", "other.nc"]):
        assert cli.main(["predict", "missing.nc", "--at", "1e9,1e10", "--factor-alone"] + args) == 2
        assert "--factor-alone changes the default (discrepancy) intervals" in capsys.readouterr().err


def test_backtest_keeps_its_row_format_and_reports_both_kinds():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = bt.backtest(_data(1, curvature=0.06), above_compute=1e21, method="bootstrap", law=ComputeLaw,
                        key=jax.random.key(0), replicates=16)
    assert list(t.columns) == bt.BACKTEST_COLUMNS
    factor = t.meta["discrepancy"]["factor"]
    assert t.meta["intervals"] == "discrepancy" and factor > 1
    assert set(t.meta["exact_law_coverage"]) == {"0.5", "0.9"} and t.meta["fit"]["pooled"]
    for r in t:
        assert r["lower_90"] <= r["exact_law_lower_90"] and r["upper_90"] >= r["exact_law_upper_90"]
        assert r["width_factor"] == factor and r["in_90"] == (r["lower_90"] <= r["loss"] <= r["upper_90"])
    # each row says whether it lies beyond the factor's tested reach, and the coverage is split on that
    reach = t.meta["discrepancy"]["tested_reach_decades"]
    assert reach > 0 and all(r["tested_reach_decades"] == reach for r in t)
    assert [r["beyond_tested_reach"] for r in t] == [r["extrapolation_decades"] > reach for r in t]
    by = t.meta["coverage_by_reach"]
    assert by["within"]["n"] + by["beyond"]["n"] == len(t)
    for side, flag in (("within", False), ("beyond", True)):
        sel = [r["in_90"] for r in t if r["beyond_tested_reach"] is flag]
        assert by[side]["n"] == len(sel) and (by[side]["0.9"] == pytest.approx(np.mean(sel)) if sel
                                              else by[side]["0.9"] is None)


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


def test_predict_loss_learns_the_factor_once_per_data_and_law(monkeypatch):
    import bayes_scaling.prediction.discrepancy as dm
    import bayes_scaling.prediction.loss as loss_module

    calls = []
    real = dm.learn_discrepancy

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dm, "learn_discrepancy", counting)
    monkeypatch.setattr(loss_module, "_LEARNED", {})
    data = _data(3)
    law = ComputeLaw(E=np.full(4, 1.7), A=np.full(4, 1000.0), alpha=np.full(4, 0.15))
    kw = dict(sigma=np.full(4, 0.005), data=data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        first = predict_loss(law, N=N[-1] * 3, D=D[-1] * 3, **kw)
        second = predict_loss(law, N=N[-1] * 5, D=D[-1] * 5, **kw)
        other = predict_loss(law, N=N[-1] * 3, D=D[-1] * 3, **{**kw, "data": _data(4)})
    assert len(calls) == 2  # the second forecast from the same data reused the learned factor
    assert first.meta["discrepancy"] == second.meta["discrepancy"]
    assert other.meta["discrepancy"]["factor"] != first.meta["discrepancy"]["factor"]


def test_nothing_learned_means_exact_law_intervals_said_so():
    # 7 runs: no internal cut keeps enough points to refit the law, so no factor can be learned
    small = bs.from_arrays(N[:7], D[:7], np.asarray(TRUE.loss(C[:7])) * np.exp(0.003 * np.sin(np.arange(7))))
    law = ComputeLaw(E=np.full(4, 1.7), A=np.full(4, 1000.0), alpha=np.full(4, 0.15))
    with pytest.warns(RuntimeWarning, match="no internal cut"):
        assert learn_discrepancy(small, ComputeLaw).n_cuts == 0
    with pytest.warns(RuntimeWarning, match="no internal cut"):
        t = predict_loss(law, N=N[10], D=D[10], sigma=np.full(4, 0.01), data=small)
    assert t.meta["intervals"] == "exact-law" and float(t["width_factor"]) == 1.0
    with pytest.raises(ValueError, match="finite and > 0"):
        predict_loss(law, N=N[10], D=D[10], sigma=np.full(4, 0.01), discrepancy=Discrepancy(float("nan")))
