"""Law-form averaging: simplex stacking weights, the stacked width factor, the weighted mixture."""

import itertools
import warnings
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import bayes_scaling as bs
from bayes_scaling.prediction import learn_discrepancy
from bayes_scaling.prediction.averaging import learn_stacking, simplex_weights, stacked_interval
from bayes_scaling.prediction.predictive import _mixture_quantiles


@pytest.fixture(scope="module")
def example():
    return bs.example_data()


def _grid_min(Q, steps=200):
    """Brute force over a simplex grid (for L <= 3)."""
    L = Q.shape[0]
    best, val = None, np.inf
    for idx in itertools.product(range(steps + 1), repeat=L - 1):
        if sum(idx) > steps:
            continue
        w = np.array(list(idx) + [steps - sum(idx)], float) / steps
        v = w @ Q @ w
        if v < val:
            best, val = w, v
    return best, val


@pytest.mark.parametrize("seed", range(6))
def test_simplex_weights_reach_the_simplex_minimum(seed):
    rng = np.random.default_rng(seed)
    L = 2 + seed % 2
    R = rng.normal(size=(L, 7)) + rng.normal(size=(L, 1))  # correlated errors of L forms
    Q = R @ R.T / 7
    w = simplex_weights(Q)
    assert w.min() >= 0 and abs(w.sum() - 1) < 1e-12
    _, grid_val = _grid_min(Q)
    # the exact minimum is at most the grid's best (the grid is a subset of the simplex)
    assert w @ Q @ w <= grid_val + 1e-12


def test_simplex_weights_of_a_dominated_form_are_zero():
    # form 2 has the same errors as form 1 plus independent extra error: no weight
    r1 = np.array([0.01, -0.02, 0.015, 0.03])
    Q = np.array([[r1 @ r1, r1 @ r1], [r1 @ r1, r1 @ r1 + 0.01]]) / 4
    np.testing.assert_allclose(simplex_weights(Q), [1.0, 0.0])


def test_one_form_stacking_is_the_width_factor(example):
    # with a single form the stacked kappa is the single-form width factor exactly (the module's claim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        s = learn_stacking(example, ("chinchilla",))
        d = learn_discrepancy(example, "chinchilla", stacked_centre=False)
    assert s.weights == (1.0,) and s.n_cuts == d.n_cuts and s.n_scored == d.n_scored
    assert s.factor == pytest.approx(d.factor, rel=1e-12)


def test_stacking_prefers_the_true_form_on_its_data():
    # Kaplan's law simulated on an isoFLOP design: the leave-future-out weights favour Kaplan's form
    n, d = bs.data.chinchilla_design()
    ds = bs.simulate(jax.random.key(3), bs.laws.KAPLAN_2020, n, d, noise=0.005)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        s = learn_stacking(bs.from_arrays(n, d, ds.loss), ("chinchilla", "kaplan"))
    assert s.laws == ("chinchilla", "kaplan") and s.n_cuts >= 4
    assert s.weights[1] > 0.5
    assert s.rms_error[1] < s.rms_error[0]
    assert s.summary()["kind"] == "stacked width-factor"


def test_weighted_mixture_quantiles_solve_the_weighted_cdf():
    mu = jnp.array([[0.0, 1.0], [2.0, 1.5], [-1.0, 0.2]])
    sigma = jnp.array([[0.5], [0.3], [1.0]])
    w = jnp.array([0.6, 0.3, 0.1])
    qs = jnp.array([0.05, 0.5, 0.95])
    vals, ok = _mixture_quantiles(mu, sigma, sigma, qs, student=False, weights=w)
    assert bool(np.all(ok))
    for j in range(2):
        for qi, q in enumerate(np.asarray(qs)):
            F = np.sum(np.asarray(w) * stats.norm.cdf(np.asarray(vals)[qi, j], np.asarray(mu)[:, j],
                                                      np.asarray(sigma)[:, 0]))
            assert F == pytest.approx(q, abs=1e-9)
    # uniform weights are the unweighted mixture
    a, _ = _mixture_quantiles(mu, sigma, sigma, qs, student=False)
    b, _ = _mixture_quantiles(mu, sigma, sigma, qs, student=False, weights=jnp.full(3, 1 / 3))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12)


def test_stacked_interval_with_one_form_is_the_widened_exact_law_interval(example):
    fit = bs.bootstrap(jax.random.key(0), example, 8)
    q = {"N": np.array([1e9, 7e10]), "D": np.array([2e10, 1.4e12])}
    t = bs.prediction.predict_loss(fit.law, **q, sigma=fit.sigma, level=0.9, intervals="exact-law")
    from bayes_scaling.laws import inputs_for
    from bayes_scaling.prediction._core import _log_loss_inputs, _mapped
    mu = np.asarray(_mapped(_log_loss_inputs, fit.law, *(jnp.asarray(x) for x in inputs_for(type(fit.law), **q))))
    lo, hi, c = stacked_interval([mu, mu + 1.0], [fit.sigma, fit.sigma], [None, None], (1.0, 0.0), 0.9, 1.0)
    np.testing.assert_allclose(lo, t["predictive_lower"], rtol=1e-9)
    np.testing.assert_allclose(hi, t["predictive_upper"], rtol=1e-9)
    np.testing.assert_allclose(c, t["estimate"], rtol=1e-9)
    lo2, hi2, _ = stacked_interval([mu, mu + 1.0], [fit.sigma, fit.sigma], [None, None], (1.0, 0.0), 0.9, 2.0)
    np.testing.assert_allclose(np.log(hi2 / c), 2 * np.log(hi / c), rtol=1e-9)
    # two forms at equal weight: the centre moves halfway in log loss (a copy shifted by +1), and the
    # interval spans both forms
    lo3, hi3, c3 = stacked_interval([mu, mu + 1.0], [fit.sigma, fit.sigma], [None, None], (0.5, 0.5), 0.9, 1.0)
    np.testing.assert_allclose(np.log(c3 / c), 0.5, rtol=1e-9)
    assert np.all(lo3 < c) and np.all(hi3 > c * np.e)  # from below form 1's median to above form 2's
    # widening acts on both sides of the mixture's median, even when the centre is outside the
    # narrow interval (weights 0.85 / 0.15, forms far apart)
    lo4, hi4, c4 = stacked_interval([mu, mu + 1.0], [fit.sigma, fit.sigma], [None, None], (0.85, 0.15), 0.5, 1.0)
    lo5, hi5, _ = stacked_interval([mu, mu + 1.0], [fit.sigma, fit.sigma], [None, None], (0.85, 0.15), 0.5, 1.5)
    assert np.all(c4 > hi4) and np.all(hi5 > hi4) and np.all(lo5 < lo4)


def test_backtest_averaged_intervals_mix_both_forms_and_say_so(example):
    from bayes_scaling.analysis import backtest as bt

    kw = dict(above_compute=1e21, method="bootstrap", key=jax.random.key(0), replicates=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        avg = bt.backtest(example, intervals="averaged", **kw)
        one = bt.backtest(example, **kw)
    m = avg.meta
    assert m["intervals"] == "averaged" and m["averaged_laws"] == ["chinchilla", "kaplan"]
    assert m["averaging"]["laws"] == ["chinchilla", "kaplan"] and m["averaging"]["n_cuts"] > 0
    assert sum(m["averaging"]["weights"]) == pytest.approx(1.0) and set(m["averaging"]["fits"]) == {"chinchilla", "kaplan"}
    assert one.meta["intervals"] == "discrepancy" and one.meta["averaged_laws"] is None
    assert list(avg.columns) == bt.BACKTEST_COLUMNS
    for a, b in zip(avg, one):
        # the exact-law columns are the first form's, from the same fit
        assert a["exact_law_lower_90"] == b["exact_law_lower_90"] and a["exact_law_upper_50"] == b["exact_law_upper_50"]
        assert a["width_factor"] == m["averaging"]["factor"]
        # the averaged intervals' tested reach is that of the cuts their weights and factor were learned from
        assert a["tested_reach_decades"] == m["averaging"]["tested_reach_decades"] > 0
        assert a["beyond_tested_reach"] == (a["extrapolation_decades"] > a["tested_reach_decades"])
        assert a["lower_90"] <= a["predicted"] <= a["upper_90"] and a["lower_50"] >= a["lower_90"]
        assert a["in_90"] == (a["lower_90"] <= a["loss"] <= a["upper_90"])
        assert a["rel_error"] == pytest.approx((a["predicted"] - a["loss"]) / a["loss"])


def test_averaging_a_law_without_companions_is_its_width_factor():
    from bayes_scaling.analysis import backtest as bt
    from compute_law import ComputeLaw

    assert bt.averaged_forms(ComputeLaw) == (ComputeLaw,)
    assert [f.name for f in bt.averaged_forms(bs.laws.Kaplan)] == ["kaplan", "chinchilla"]
    C = np.logspace(18, 22, 30)
    N = np.sqrt(C / 120)
    ds = bs.simulate(jax.random.key(1), ComputeLaw(E=1.7, A=1000.0, alpha=0.15), N, C / 6 / N, noise=0.005)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = bt.backtest(ds, above_compute=1e21, method="bootstrap", law=ComputeLaw, key=jax.random.key(0),
                        replicates=8, intervals="averaged")
    assert t.meta["intervals"] == "discrepancy" and t.meta["averaging"] is None
    assert t.meta["discrepancy"]["n_cuts"] > 0


def test_a_step_where_an_averaged_form_lost_replicates_is_not_pooled(example, monkeypatch, capsys):
    from bayes_scaling.analysis import backtest as bt

    real, real_stack = bt.fit_regions, bt._stack

    def failing(*args, **kwargs):  # Kaplan's fits lose 60% of their replicates at the second step,
        fits = real(*args, **kwargs)  # Chinchilla's (the user's form) at the first
        step = {"kaplan": 1, "chinchilla": 0}[kwargs["law"].name]
        info = [dict(i) for i in fits.info]
        info[step]["failed"] = int(0.6 * info[step]["replicates"])
        return fits._replace(info=info)

    calls = []

    def kaplan_only_first(*args):  # the first step's stacking weight all on Kaplan's form
        stack = real_stack(*args)
        calls.append(1)
        return stack._replace(weights=(0.0, 1.0)) if len(calls) == 1 else stack

    monkeypatch.setattr(bt, "fit_regions", failing)
    monkeypatch.setattr(bt, "_stack", kaplan_only_first)
    with pytest.warns(RuntimeWarning, match="not pooled"):
        t = bt.rolling_backtest(example, thresholds=[3e20, 1e21], method="bootstrap", key=jax.random.key(0),
                                replicates=10, intervals="averaged")
    steps = t.meta["steps"]
    assert steps[0]["averaging"]["weights"] == [0.0, 1.0] and min(steps[1]["averaging"]["weights"]) > 0
    # the averaged intervals pool where every form with weight kept its replicates: the first step only
    assert [s["pooled"] for s in steps] == [True, False] and t.meta["excluded_steps"] == [1e21]
    assert steps[1]["averaging"]["fits"]["kaplan"]["failed"] == 6 and steps[1]["failed"] == 0
    # the exact_law_* intervals are Chinchilla's alone: pooled where it kept its replicates, even at weight 0
    assert [s["exact_law_pooled"] for s in steps] == [False, True] and steps[0]["failed"] == 6
    assert steps[0]["exact_law_coverage"] is None and steps[0]["coverage"] is not None
    assert steps[1]["exact_law_coverage"] is not None and steps[1]["coverage"] is None
    held = [r for r in t.rows if r["threshold"] == 1e21]
    assert t.meta["exact_law_coverage"]["0.9"] == pytest.approx(np.mean([r["exact_law_in_90"] for r in held]))
    # and the text says so, step by step
    from bayes_scaling.cli.backtest import _print_rolling

    _print_rolling(t.meta, "C")
    first, second = [line for line in capsys.readouterr().out.splitlines() if "held out" in line]
    assert "exact-law comparison not pooled" in first and "not pooled: more than 5%" in second


def test_cli_backtest_averaged_json(capsys):
    import json

    from bayes_scaling import cli

    rc = cli.main(["backtest", "--example", "--holdout-above-compute", "2e21", "--replicates", "16",
                   "--intervals", "averaged", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d["intervals"] == "averaged" and d["averaging"]["laws"] == ["chinchilla", "kaplan"]
    assert len(d["rows"]) == d["n_holdout"] and "in_90" in d["rows"][0]
    rc = cli.main(["backtest", "--example", "--holdout-above-compute", "2e21", "--replicates", "16",
                   "--intervals", "averaged"])
    out = capsys.readouterr().out
    assert rc == 0 and "intervals: averaged (law forms averaged with leave-future-out stacking weights: chinchilla" in out


def test_weighted_summary_is_the_inverted_cdf_quantile_of_the_expanded_samples():
    from bayes_scaling.prediction.averaging import weighted_summary

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 3)), 2 + rng.normal(size=(40, 3))
    iv = weighted_summary([a, b], (0.25, 0.75), 0.8)
    expanded = np.concatenate([a, b, b, b])  # weight 1/4 : 3/4 with equal sample counts
    for got, q in ((iv.estimate, 0.5), (iv.lower, 0.1), (iv.upper, 0.9)):
        np.testing.assert_array_equal(got, np.quantile(expanded, q, axis=0, method="inverted_cdf"))
    one = weighted_summary([a, b], (1.0, 0.0), 0.8)  # one form: the package's own summary
    ref = bs.prediction.summarize(a, 1, 0.8)
    np.testing.assert_array_equal(one.lower, ref.lower)
    np.testing.assert_array_equal(one.estimate, ref.estimate)


def test_averaged_allocation_carries_the_law_form_uncertainty(example):
    from bayes_scaling.prediction import allocation_table
    from bayes_scaling.prediction.averaging import averaged_allocation_table, averaged_target_table

    chin = bs.bootstrap(jax.random.key(0), example, 16, law="chinchilla")
    kap = bs.bootstrap(jax.random.key(0), example, 16, law="kaplan")
    C = np.array([1e22, 1e24])
    alone = [allocation_table(f.law, C) for f in (chin, kap)]
    first = averaged_allocation_table([chin.law, kap.law], (1.0, 0.0), C)
    np.testing.assert_array_equal(first["N_opt"], alone[0]["N_opt"])
    np.testing.assert_array_equal(first["N_opt_upper"], alone[0]["N_opt_upper"])
    both = averaged_allocation_table([chin.law, kap.law], (0.5, 0.5), C)
    assert both.meta["laws"] == ["chinchilla", "kaplan"] and both.meta["weights"] == [0.5, 0.5]
    for name in ("N_opt", "D_opt", "tokens_per_param"):
        lo, hi = np.minimum(alone[0][name], alone[1][name]), np.maximum(alone[0][name], alone[1][name])
        # each form holds half the mass, so the 90% interval reaches past both forms' medians
        assert np.all(both[f"{name}_lower"] <= lo) and np.all(both[f"{name}_upper"] >= hi)
        assert np.all(both[f"{name}_upper"] / both[f"{name}_lower"]
                      >= np.maximum(alone[0][f"{name}_upper"] / alone[0][f"{name}_lower"],
                                    alone[1][f"{name}_upper"] / alone[1][f"{name}_lower"]) * (1 - 1e-12))
    target = averaged_target_table([chin.law, kap.law], (0.5, 0.5), [2.0, 1.0])
    reach = [np.mean(np.asarray(bs.prediction.compute_for_target(f.law, np.array([2.0, 1.0])).reachable), axis=0)
             for f in (chin, kap)]
    np.testing.assert_allclose(target["prob_reachable"], 0.5 * reach[0] + 0.5 * reach[1])
    with pytest.raises(ValueError, match="sum to 1"):
        averaged_allocation_table([chin.law, kap.law], (0.5, 0.6), C)


def test_cli_predict_average_with_pools_the_forms(tmp_path, capsys):
    import json

    from bayes_scaling import cli

    a, b, c = (str(tmp_path / n) for n in ("a.nc", "b.nc", "c.nc"))
    for law, path, extra in (("chinchilla", a, []), ("kaplan", b, []), ("kaplan", c, ["--drop-top-loss", "3"])):
        assert cli.main(["fit", "--example", "--law", law, "--method", "bootstrap", "--replicates", "8",
                         "--out", path, *extra]) == 0
    capsys.readouterr()
    rc = cli.main(["predict", a, "--average-with", b, "--compute", "1e22", "--at", "7e10,1.4e12",
                   "--target-loss", "2.0", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d["intervals"] == "averaged" and d["averaging"]["laws"] == ["chinchilla", "kaplan"]
    w = d["averaging"]["weights"]
    assert sum(w) == pytest.approx(1.0) and d["exponents"] == {}
    row = d["loss"][0]
    assert row["predictive_lower"] < row["estimate"] < row["predictive_upper"]
    assert row["width_factor"] == d["averaging"]["factor"]
    # the averaged intervals' tested reach, on the row as in the averaging summary (the example spans 1e18-1e22
    # FLOP, so 70B parameters on 1.4T tokens lie beyond it)
    assert row["tested_reach_decades"] == d["averaging"]["tested_reach_decades"] < row["extrapolation_decades"]
    iv = d["allocation"][0]["N_opt"]
    assert iv["lower"] <= iv["estimate"] <= iv["upper"]
    assert 0 <= d["target"]["reachable_probability"] <= 1
    # fits of other data, or a second copy of one form, are refused with exit 2 and one line
    assert cli.main(["predict", a, "--average-with", c, "--compute", "1e22"]) == 2
    assert "fitted on other data" in capsys.readouterr().err
    assert cli.main(["predict", a, "--average-with", a, "--compute", "1e22"]) == 2
    assert "each law form once" in capsys.readouterr().err


def test_stacking_with_no_usable_cut_says_so_and_falls_back_to_the_first_form():
    n, d = bs.data.chinchilla_design(budgets=(1e19, 1e20), sizes_per_budget=4)
    ds = bs.from_arrays(n, d, bs.simulate(jax.random.key(0), bs.HOFFMANN_2022, n, d, noise=0.01).loss)
    with pytest.warns(RuntimeWarning, match="no internal cut"):
        s = learn_stacking(ds, ("chinchilla", "kaplan"))
    assert s.weights == (1.0, 0.0) and s.factor == 1.0 and s.n_cuts == 0


def test_weighted_student_t_mixture_quantiles_solve_the_weighted_cdf():
    mu = jnp.array([[0.0], [0.3]])
    sigma = jnp.array([[0.1], [0.2]])
    nu = jnp.array([[2.5], [6.0]])
    w = jnp.array([0.8, 0.2])
    vals, ok = _mixture_quantiles(mu, sigma, nu, jnp.array([0.05, 0.95]), student=True, weights=w)
    assert bool(np.all(ok))
    for qi, q in enumerate((0.05, 0.95)):
        F = sum(float(w[s]) * stats.t.cdf(float(np.asarray(vals)[qi, 0]), float(nu[s, 0]), float(mu[s, 0]),
                                          float(sigma[s, 0])) for s in range(2))
        assert F == pytest.approx(q, abs=1e-8)


def test_simplex_weights_edge_cases():
    np.testing.assert_array_equal(simplex_weights(np.array([[0.0, 0.0], [0.0, 1.0]])), [1.0, 0.0])
    np.testing.assert_array_equal(simplex_weights(np.zeros((2, 2))), [1.0, 0.0])
    with pytest.raises(ValueError, match="finite square"):
        simplex_weights(np.array([[1.0, np.nan], [np.nan, 1.0]]))


def test_the_stacked_factor_scores_each_cut_with_the_other_cuts_weights(monkeypatch):
    import bayes_scaling.prediction.averaging as A

    # two cuts: form 0 is exact on cut 0 and far off on cut 1, form 1 the reverse; in-sample weights
    # (0.5, 0.5) would score both cuts alike, leave-one-cut-out weights put all the weight on the
    # form that misses the scored cut
    cut = np.ones(4, bool)
    monkeypatch.setattr(A, "_common_cuts", lambda *a: [("compute", cut), ("compute", ~cut)])
    errs = {0: [(np.array([0.0, 0.0]), np.full(2, 1e-4)), (np.array([0.1, 0.1]), np.full(2, 1e-4))],
            1: [(np.array([0.1, 0.1]), np.full(2, 1e-4)), (np.array([0.0, 0.0]), np.full(2, 1e-4))]}
    calls = iter([0, 1])
    monkeypatch.setattr(A, "_refit_errors", lambda data, spec, masks: errs[next(calls)])
    runs = SimpleNamespace(N=np.full(4, 1e9), D=np.full(4, 2e10), U=None)  # the (patched) cuts' runs
    s = A.learn_stacking(runs, ("chinchilla", "kaplan"))
    assert s.weights == pytest.approx((0.5, 0.5))
    # each cut scored with the other's weights: error 0.1, variance 1e-4 -> z^2 = 100, kappa = 10
    assert s.factor == pytest.approx(10.0)


def test_averaging_falls_back_to_the_first_form_when_nothing_can_be_stacked():
    from bayes_scaling.analysis import backtest as bt
    from bayes_scaling.cli.predict import Source
    from bayes_scaling.cli.predict_averaged import build_averaged_report, check_sources
    from bayes_scaling.cli.common import CLIError

    n, d = bs.data.chinchilla_design(budgets=(1e19, 1e20, 1e21), sizes_per_budget=4)
    ds = bs.from_arrays(n, d, bs.simulate(jax.random.key(0), bs.HOFFMANN_2022, n, d, noise=0.01).loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = bt.backtest(ds, above_compute=2e20, method="bootstrap", key=jax.random.key(0), replicates=8,
                        intervals="averaged")
        chin = bs.bootstrap(jax.random.key(1), ds, 8)
        kap = bs.bootstrap(jax.random.key(1), ds, 8, law="kaplan")
    assert t.meta["averaging"] is None and t.meta["intervals"] in ("discrepancy", "exact-law")
    src = [Source(f.law, f.sigma, None, ds, name, (), None, True, "bootstrap") for f, name in
           ((chin, "chin"), (kap, "kap"))]
    with pytest.warns(RuntimeWarning, match="cannot be averaged"):
        rep = build_averaged_report(src, compute=[1e22], at=[(7e10, 1.4e12)])
    assert rep["intervals"] != "averaged" and "alone" in rep["averaging"]["fallback"]
    assert rep["allocation"] and rep["loss"][0]["predictive_lower"] < rep["loss"][0]["predictive_upper"]
    with pytest.raises(CLIError, match="one method"):
        check_sources([src[0], src[1]._replace(method="nuts")])
    with pytest.raises(CLIError, match="noise models differ"):
        check_sources([src[0], src[1]._replace(nu=np.full(8, 4.0))])


def test_cli_backtest_reports_an_averaged_forms_failed_fit_in_its_verdict(monkeypatch, capsys):
    import json

    from bayes_scaling import cli
    from bayes_scaling.analysis import backtest as bt
    from bayes_scaling.prediction.averaging import Stacking

    real = bt.fit_regions

    def failing(*args, **kwargs):  # Kaplan's fit reports 60% failed replicates
        fits = real(*args, **kwargs)
        if kwargs["law"].name != "kaplan":
            return fits
        return fits._replace(info=[{**i, "failed": int(0.6 * i["replicates"])} for i in fits.info])

    monkeypatch.setattr(bt, "fit_regions", failing)
    monkeypatch.setattr(bt, "_stack", lambda data, forms, k: Stacking(("chinchilla", "kaplan"), (0.5, 0.5), 1.2, 4, 40,
                                                                      (0.01, 0.01)))
    rc = cli.main(["backtest", "--example", "--holdout-above-compute", "2e21", "--replicates", "10",
                   "--intervals", "averaged", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert rc != 0 and d["reliable"] is False
    assert any(p.startswith("kaplan fit on C <= 2e+21") and "replicates failed" in p for p in d["problems"])
    assert d["coverage"] is None  # the step is not pooled either
