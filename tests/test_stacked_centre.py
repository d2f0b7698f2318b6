"""The default intervals' stacked centre for Chinchilla's and Kaplan's forms (prediction.discrepancy)."""

import json
import warnings

import jax
import numpy as np
import pytest
from compute_law import ComputeLaw

import bayes_scaling as bs
from bayes_scaling.analysis import backtest as bt
from bayes_scaling.laws import KAPLAN_2020
from bayes_scaling.prediction import Discrepancy, learn_discrepancy, predict_loss
from bayes_scaling.prediction.discrepancy import widen

# Kaplan et al.'s joint law on the isoFLOP design extended to 3e22 FLOP (benchmarks/bench_discrepancy_sim.py,
# --design kaplan): data from one form, which Chinchilla's form over-predicts beyond 1.5e21 FLOP.
BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21, 1e22, 3e22)


def _kaplan_split(j=0, noise=0.005):
    n, d = bs.data.chinchilla_design(budgets=BUDGETS)
    data = bs.from_arrays(n, d, bs.simulate(jax.random.key(7000 + j), KAPLAN_2020, n, d, noise=noise).loss)
    train, test = bt.holdout_masks(data, 1.5e21, by="compute")
    return data, train, test


def test_widen_moves_the_interval_to_the_new_centre_then_widens():
    lo, hi = widen(np.array([1.8]), np.array([2.2]), np.array([2.0]), 1.5, moved_to=np.array([2.1]))
    # the log distances from the centre are kept, scaled 1.5x, around log 2.1
    np.testing.assert_allclose(np.log(lo) - np.log(2.1), 1.5 * (np.log(1.8) - np.log(2.0)), rtol=1e-12)
    np.testing.assert_allclose(np.log(hi) - np.log(2.1), 1.5 * (np.log(2.2) - np.log(2.0)), rtol=1e-12)


def test_the_centre_is_the_stacked_log_prediction_and_is_described():
    N, D = np.array([1e9, 1e10]), np.array([2e10, 2e11])
    est = np.array([2.5, 2.1])
    d = Discrepancy(1.2, 3, 30, (), "kaplan", 0.25, KAPLAN_2020)
    expect = np.exp(0.75 * np.log(est) + 0.25 * np.log(np.asarray(KAPLAN_2020.loss(N, D))))
    np.testing.assert_allclose(d.centre(est, N, D), expect, rtol=1e-12)
    np.testing.assert_array_equal(Discrepancy(1.2, 3, 30, (), "kaplan", 0.0, KAPLAN_2020).centre(est, N, D), est)
    s = json.loads(json.dumps(d.summary()))
    assert s["kind"] == "stacked-centre width-factor"
    assert s["companion"]["law"] == "kaplan" and s["companion"]["weight"] == 0.25
    assert s["companion"]["fit"] == {k: float(v) for k, v in KAPLAN_2020._asdict().items()}
    assert Discrepancy(1.2).summary()["kind"] == "width-factor" and "companion" not in Discrepancy(1.2).summary()


def test_on_kaplan_data_the_centre_moves_most_of_the_way_to_the_truth():
    errs = []
    for j in range(3):
        data, train, test = _kaplan_split(j)
        tr = data.subset(train)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            d = learn_discrepancy(tr, "chinchilla")
            chin = bs.fit(tr, law="chinchilla", warn=False).law
        assert d.companion == "kaplan" and d.n_cuts > 0
        # the data's own leave-future-out refits prefer the form that generated them
        assert d.weight > 0.5
        est = np.asarray(chin.loss(data.N[test], data.D[test]))
        truth = np.log(np.asarray(KAPLAN_2020.loss(data.N[test], data.D[test])))
        errs.append((np.mean(np.abs(np.log(est) - truth)),
                     np.mean(np.abs(np.log(d.centre(est, data.N[test], data.D[test])) - truth))))
    # Chinchilla's form over-predicts these runs by 1-3% (noise-free); the stacked centre is closer on each
    assert all(moved < alone for alone, moved in errs), errs


def test_predict_loss_widens_around_the_moved_centre_and_reports_it():
    law = bs.laws.Chinchilla(E=np.full(4, 1.7), A=np.full(4, 400.0), B=np.full(4, 410.0),
                             alpha=np.linspace(0.33, 0.35, 4), beta=np.full(4, 0.28))
    d = Discrepancy(1.4, 3, 30, (), "kaplan", 0.6, KAPLAN_2020)
    q = dict(N=np.array([1e10, 7e10]), D=np.array([2e11, 1.4e12]), sigma=np.full(4, 0.01))
    new = predict_loss(law, **q, discrepancy=d)
    old = predict_loss(law, **q, intervals="exact-law")
    m = d.centre(old["estimate"], q["N"], q["D"])
    np.testing.assert_allclose(new["predictive_centre"], m, rtol=1e-12)
    np.testing.assert_allclose(old["predictive_centre"], old["estimate"], rtol=0)
    c = np.log(old["estimate"])
    np.testing.assert_allclose(np.log(new["predictive_upper"]) - np.log(m),
                               1.4 * (np.log(old["predictive_upper"]) - c), rtol=1e-10)
    np.testing.assert_allclose(np.log(m) - np.log(new["predictive_lower"]),
                               1.4 * (c - np.log(old["predictive_lower"])), rtol=1e-10)
    assert new.meta["discrepancy"]["kind"] == "stacked-centre width-factor"
    assert any("kaplan form's extrapolation" in n for n in new.notes)
    # a law that does not read (N, D) cannot take a centre moved in (N, D)
    with pytest.raises(ValueError, match="reads C"):
        predict_loss(ComputeLaw(E=1.7, A=1000.0, alpha=0.15), C=np.array([1e22]), sigma=0.01, discrepancy=d)


def test_forms_without_a_companion_and_the_opt_out_learn_the_factor_alone():
    data, train, _ = _kaplan_split(0)
    tr = data.subset(train)
    C = np.logspace(18, 22, 40)
    n = np.sqrt(C / 6 / 20)
    compute = bs.from_arrays(n, C / 6 / n, np.asarray(ComputeLaw(E=1.7, A=1000.0, alpha=0.15).loss(C))
                             * np.exp(0.003 * np.sin(np.arange(40))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        alone = learn_discrepancy(tr, "chinchilla", stacked_centre=False)
        other = learn_discrepancy(compute, ComputeLaw)
    assert alone.companion is None and alone.summary()["kind"] == "width-factor" and alone.n_cuts > 0
    assert other.companion is None and other.n_cuts > 0


def test_backtest_rows_centre_on_the_stacked_prediction_and_keep_the_exact_law_estimate():
    data, train, test = _kaplan_split(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = bt.backtest(data, above_compute=1.5e21, method="bootstrap", key=jax.random.key(0), replicates=16)
        d = learn_discrepancy(data.subset(train), "chinchilla")
    assert list(t.columns) == bt.BACKTEST_COLUMNS and len(t) == int(test.sum())
    s = t.meta["discrepancy"]
    assert s["kind"] == "stacked-centre width-factor" and s["companion"]["law"] == "kaplan"
    assert s["companion"]["weight"] == pytest.approx(d.weight, rel=1e-12)
    f = s["factor"]
    for r in t:
        est, m = r["exact_law_predicted"], r["predicted"]
        assert m == pytest.approx(float(d.centre(est, r["N"], r["D"])), rel=1e-12)
        assert r["rel_error"] == pytest.approx((m - r["loss"]) / r["loss"], rel=1e-12)
        assert r["exact_law_lower_90"] <= est <= r["exact_law_upper_90"]
        # the default interval is the exact-law one moved to m and widened f times there (log scale)
        assert np.log(r["upper_90"] / m) == pytest.approx(f * np.log(r["exact_law_upper_90"] / est), rel=1e-9)
        assert np.log(m / r["lower_90"]) == pytest.approx(f * np.log(est / r["exact_law_lower_90"]), rel=1e-9)
    # on data from Kaplan's law the stacked centre is nearer the held-out runs than Chinchilla's estimate
    err = lambda c: np.mean([abs(r[c] / r["loss"] - 1) for r in t])  # noqa: E731
    assert err("predicted") < err("exact_law_predicted")


def test_a_zero_weight_is_the_factor_alone_and_a_failed_companion_fit_falls_back_with_a_warning(monkeypatch):
    law = bs.laws.Chinchilla(E=np.full(4, 1.7), A=np.full(4, 400.0), B=np.full(4, 410.0),
                             alpha=np.linspace(0.33, 0.35, 4), beta=np.full(4, 0.28))
    q = dict(N=np.array([1e10, 7e10]), D=np.array([2e11, 1.4e12]), sigma=np.full(4, 0.01))
    zero = predict_loss(law, **q, discrepancy=Discrepancy(1.4, 3, 30, (), "kaplan", 0.0, KAPLAN_2020))
    alone = predict_loss(law, **q, discrepancy=Discrepancy(1.4, 3, 30))
    for c in ("predictive_lower", "predictive_upper", "predictive_centre"):
        np.testing.assert_array_equal(zero[c], alone[c])
    # and it says the centre did not move, rather than "moved 0.00 of the way"
    assert any("not moved toward the kaplan form" in n for n in zero.notes)
    assert not any("of the way" in n for n in zero.notes)
    # a discrepancy that would move Kaplan's law toward Kaplan's form is refused
    kap = bs.laws.Kaplan(**{k: np.full(4, float(v)) for k, v in KAPLAN_2020._asdict().items()})
    with pytest.raises(ValueError, match="law's own"):
        predict_loss(kap, **q, discrepancy=Discrepancy(1.4, 3, 30, (), "kaplan", 0.5, KAPLAN_2020))
    # the companion's whole-data fit fails: the factor alone, said so
    import bayes_scaling.fitting as fitting

    real = fitting.fit
    monkeypatch.setattr(fitting, "fit", lambda *a, **k: real(*a, **k)._replace(converged=np.False_))
    data, train, _ = _kaplan_split(2)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        d = learn_discrepancy(data.subset(train), "chinchilla")
    assert d.companion is None and d.n_cuts > 0


def test_at_weight_zero_the_companion_is_not_fitted(monkeypatch):
    # the example is simulated from Chinchilla's law, so Kaplan's form earns no stacking weight there; the
    # centre does not move, and the companion's whole-data fit (whose predictions would not be used) is skipped
    import bayes_scaling.fitting as fitting

    def refuse(*a, **k):
        raise AssertionError("the companion was fitted at weight 0")

    monkeypatch.setattr(fitting, "fit", refuse)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        d = learn_discrepancy(bs.example_data(), "chinchilla")
    assert d.companion == "kaplan" and d.weight == 0.0 and d.companion_fit is None and d.n_cuts >= 2
    assert d.summary()["companion"] == {"law": "kaplan", "weight": 0.0, "fit": None}
    est = np.array([1.9, 2.0])
    np.testing.assert_array_equal(d.centre(est, np.array([1e10, 7e10]), np.array([2e11, 1.4e12])), est)


def test_a_single_common_cut_learns_the_factor_alone(monkeypatch):
    # 18 runs of the example (C <= 1e19) leave one cut both forms can be refitted on: its stacking weights
    # would be fitted to the cut itself, which can only shrink the factor, so the factor alone is learned
    from bayes_scaling.analysis.compare import label_of
    from bayes_scaling.prediction import discrepancy as disc_mod

    ds = bs.example_data()
    train, _ = bt.holdout_masks(ds, 1e19)
    tr = ds.subset(train)
    refitted = []
    real = disc_mod._refit_errors
    monkeypatch.setattr(disc_mod, "_refit_errors",
                        lambda data, spec, *a, **k: refitted.append(label_of(spec)) or real(data, spec, *a, **k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        default = learn_discrepancy(tr, "chinchilla")
        # the fallback reuses the form's refits made for the stacked centre instead of refitting it again
        assert refitted.count("chinchilla") == 1 and refitted.count("kaplan") == 1
        alone = learn_discrepancy(tr, "chinchilla", stacked_centre=False)
    assert alone.n_cuts >= 1
    assert default.companion is None and default.factor == alone.factor and default.n_cuts == alone.n_cuts


def test_the_centre_checks_refuse_another_forms_discrepancy_at_weight_0_too():
    kap = bs.laws.Kaplan(**{k: np.full(4, float(v)) for k, v in KAPLAN_2020._asdict().items()})
    q = dict(N=np.array([1e10, 7e10]), D=np.array([2e11, 1.4e12]), sigma=np.full(4, 0.01))
    with pytest.raises(ValueError, match="law's own"):
        predict_loss(kap, **q, discrepancy=Discrepancy(1.4, 3, 30, (), "kaplan", 0.0, KAPLAN_2020))


def test_the_predictive_centre_lies_inside_its_interval_when_the_estimate_does_not():
    # a two-basin sample: at level 0.2 the mixture's narrow central interval misses the median estimate;
    # the interval is widened around the estimate clipped into it, and that is the centre reported
    S = 100
    E = np.where(np.arange(S) < 51, 1.70, 1.95)
    law = bs.Chinchilla(E=E, A=np.full(S, 406.4), B=np.full(S, 410.7), alpha=np.full(S, 0.34), beta=np.full(S, 0.28))
    exact = predict_loss(law, 1e10, 1e12, sigma=0.02, level=0.2, intervals="exact-law")
    t = predict_loss(law, 1e10, 1e12, sigma=0.02, level=0.2, discrepancy=Discrepancy(1.5, 3, 10))
    est, lo = float(t["estimate"]), float(exact["predictive_lower"])
    assert est < lo  # the case in question
    assert float(t["predictive_lower"]) <= float(t["predictive_centre"]) <= float(t["predictive_upper"])
    assert float(t["predictive_centre"]) == pytest.approx(lo, rel=1e-12)


def test_data_given_as_columns_learns_the_same_discrepancy_as_the_dataset():
    from types import SimpleNamespace

    data, train, _ = _kaplan_split(1)
    tr = data.subset(train)
    cols = SimpleNamespace(N=tr.N, D=tr.D, loss=tr.loss)
    law = bs.HOFFMANN_2022
    q = dict(N=np.array([3e9]), D=np.array([6e11]), sigma=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = predict_loss(law, **q, data=tr)
        b = predict_loss(law, **q, data=cols)
    assert a.meta["discrepancy"] == b.meta["discrepancy"]
    np.testing.assert_array_equal(a["predictive_upper"], b["predictive_upper"])
    with pytest.raises(ValueError, match="numeric N, D and loss"):
        predict_loss(law, **q, data=SimpleNamespace(N=tr.N, loss=tr.loss))


def test_text_says_narrowed_for_a_factor_below_one_and_never_prints_a_zero_weight():
    from bayes_scaling.prediction.loss import scaled, share

    assert scaled(0.693) == "narrowed 0.693x" and scaled(1.31) == "widened 1.31x"
    assert share(0.0038) == "0.004" and share(0.25) == "0.25" and share(0.0) == "0.00"


def test_predict_json_keeps_the_kind_a_value_of_its_schema_and_says_why_it_fell_back():
    from bayes_scaling.cli.predict import Source
    from bayes_scaling.cli.predict_report import build_report, format_report

    N, D = np.repeat([1e8, 3e8, 1e9], 3), np.tile([2e9, 6e9, 2e10], 3)
    ds = bs.simulate(jax.random.key(0), bs.HOFFMANN_2022, N, D, 0.01)  # 9 runs: no cut can be refitted
    for observed, why in ((True, "no internal refit"), (False, "no observed losses")):
        src = Source(bs.HOFFMANN_2022, 0.01, None, ds, "test", spec=bs.Chinchilla, observed=observed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rep = build_report(src, at=[(1e10, 1e12)])
        assert rep["intervals"] == "exact-law" and rep["intervals_note"].startswith(why)
        assert why in format_report(rep, src)


def test_rolling_backtest_text_describes_each_steps_factor_and_centre():
    from bayes_scaling.cli.backtest import _kind_note

    steps = [{"discrepancy": {"factor": f, "companion": {"law": "kaplan", "weight": w}}}
             for f, w in ((0.35, 0.1), (1.3, 0.9))] + [{"discrepancy": None}]
    note = _kind_note({"intervals": "discrepancy", "law": "chinchilla", "steps": steps})
    assert "scaled by a factor" in note and "0.35-1.30x" in note and "widened" not in note
    assert "toward the kaplan form" in note and "0.10-0.90" in note
    assert "no step" in _kind_note({"intervals": "discrepancy", "law": "chinchilla", "steps": [{"discrepancy": None}]})


def test_law_spec_learns_the_discrepancy_of_the_constrained_fit_and_refuses_another_form():
    data, train, _ = _kaplan_split(3)
    tr = data.subset(train)
    tied = bs.Constrained(bs.Chinchilla, tied={"beta": "alpha"})
    law = bs.HOFFMANN_2022
    q = dict(N=np.array([3e9]), D=np.array([6e11]), sigma=0.01, data=tr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        own = learn_discrepancy(tr, tied)
        constrained = predict_loss(law, **q, law_spec=tied)
        free = predict_loss(law, **q)
    # the constrained fit's factor (a form without a companion: the factor alone), not the free form's
    assert constrained.meta["discrepancy"]["factor"] == own.factor
    assert constrained.meta["discrepancy"]["kind"] == "width-factor"
    assert free.meta["discrepancy"]["kind"] == "stacked-centre width-factor"
    with pytest.raises(ValueError, match="law_spec is a kaplan law"):
        predict_loss(law, **q, law_spec="kaplan")
