"""The default intervals' stacked centre for Chinchilla's and Kaplan's forms (prediction.discrepancy)."""

import json
import os
import subprocess
import sys
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


# One dataset's backtest, in a fresh interpreter (below): coverage of both kinds, the stacking weight,
# and the mean |log error| against the true law of the moved centre and of Chinchilla's own estimate.
_KNOWN_DISCREPANCY = """
import json, sys, warnings
import jax, numpy as np
import bayes_scaling as bs
from bayes_scaling.analysis import backtest as bt
from bayes_scaling.laws import KAPLAN_2020
n, d = bs.data.chinchilla_design(budgets={budgets!r})
out = []
for j in range({M}):
    data = bs.from_arrays(n, d, bs.simulate(jax.random.key(7000 + j), KAPLAN_2020, n, d, noise=0.01).loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = bt.backtest(data, above_compute=1.5e21, method="bootstrap", key=jax.random.key(j), replicates=100)
    truth = np.log(np.asarray(KAPLAN_2020.loss(np.array(t["N"]), np.array(t["D"]))))
    err = lambda c: float(np.mean(np.abs(np.log(np.array(t[c])) - truth)))
    out.append(dict(n=len(t), failed=t.meta["fit"]["failed"], coverage=t.meta["coverage"],
                    exact_law_coverage=t.meta["exact_law_coverage"], companion=t.meta["discrepancy"]["companion"],
                    err_moved=err("predicted"), err_law=err("exact_law_predicted")))
print(json.dumps(out))
"""


def test_known_discrepancy_the_default_intervals_cover_kaplan_data_at_the_nominal_rate_the_exact_law_ones_do_not():
    # Issue 11's known-discrepancy test: M datasets from Kaplan's law (noise sd 0.01 on log loss, the
    # setting of benchmarks/bench_discrepancy_sim.py --design kaplan), fitted with Chinchilla's form,
    # the 27 runs above 1.5e21 FLOP held out (0.5-1.5 decades beyond the fit, where Chinchilla's form
    # over-predicts them by 1-3%), 100-replicate bootstrap backtests.
    #
    # Tolerance as in tests/test_backtest.py's law-true test: a dataset's 27 indicators share one fit,
    # so the unit is the dataset; the mean of the M i.i.d. per-dataset coverages has standard error
    # s_c / sqrt(M), floored at the independent-points binomial value sqrt(p (1 - p) / (M k)).
    # Nominal means |mean - p| <= 4 se (under calibration |t| > 4 has probability about 1e-3 at 30+
    # dof). The exact-law intervals must be rejected by the same test at one level at least.
    # A step with more than 5% failed replicates is not pooled by the backtest and is left out here.
    # Measured (2-core CPU): 37 of 40 pooled, default 0.565 / 0.923 (2.8 and 1.5 se), exact-law
    # 0.376 / 0.808 (-4.9 and -4.5 se); on 48 other datasets (bench seeds) 0.510 / 0.907 against
    # 0.371 / 0.782; at noise 0.005 the default over-covers, 0.561 / 0.944 (benchmarks/RESULTS.md).
    #
    # Run in a fresh interpreter at XLA's default optimisation level: these 40 backtests run far more
    # than they compile, and the suite's optimisation level 0 (conftest.py) makes them 3-4 times slower
    # (measured: 0.7 s against 2.6 s a backtest after the first, for 31 s against 31 s of compiling).
    M, k = 40, 27
    flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                     if not f.startswith("--xla_backend_optimization_level"))
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    code = _KNOWN_DISCREPANCY.format(budgets=BUDGETS, M=M)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(runs) == M and all(r["n"] == k and r["companion"]["law"] == "kaplan" for r in runs)
    pooled = [r for r in runs if r["coverage"] is not None]
    assert all(r["failed"] > 5 for r in runs if r["coverage"] is None)  # not pooled: more than 5% failed
    assert len(pooled) >= 0.9 * M
    m = len(pooled)
    new = np.array([[r["coverage"]["0.5"], r["coverage"]["0.9"]] for r in pooled])
    old = np.array([[r["exact_law_coverage"]["0.5"], r["exact_law_coverage"]["0.9"]] for r in pooled])

    def z(cov, col, p):
        se = max(cov[:, col].std(ddof=1) / np.sqrt(m), np.sqrt(p * (1 - p) / (m * k)))
        return (cov[:, col].mean() - p) / se

    z_new = [z(new, c, p) for c, p in enumerate((0.5, 0.9))]
    z_old = [z(old, c, p) for c, p in enumerate((0.5, 0.9))]
    assert all(abs(v) <= 4 for v in z_new), (z_new, new.mean(axis=0))
    assert min(z_old) < -4, (z_old, old.mean(axis=0))
    # the data's own leave-future-out refits prefer the form that generated them, and the moved centre
    # is nearer the true law than Chinchilla's estimate (over the datasets)
    assert np.median([r["companion"]["weight"] for r in runs]) > 0.5
    assert np.mean([r["err_moved"] for r in runs]) < np.mean([r["err_law"] for r in runs])


def test_a_zero_weight_is_the_factor_alone_and_a_failed_companion_fit_falls_back_with_a_warning(monkeypatch):
    law = bs.laws.Chinchilla(E=np.full(4, 1.7), A=np.full(4, 400.0), B=np.full(4, 410.0),
                             alpha=np.linspace(0.33, 0.35, 4), beta=np.full(4, 0.28))
    q = dict(N=np.array([1e10, 7e10]), D=np.array([2e11, 1.4e12]), sigma=np.full(4, 0.01))
    zero = predict_loss(law, **q, discrepancy=Discrepancy(1.4, 3, 30, (), "kaplan", 0.0, KAPLAN_2020))
    alone = predict_loss(law, **q, discrepancy=Discrepancy(1.4, 3, 30))
    for c in ("predictive_lower", "predictive_upper", "predictive_centre"):
        np.testing.assert_array_equal(zero[c], alone[c])
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
