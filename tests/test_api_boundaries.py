"""Bad input to the Python API is refused at the boundary, naming the argument (found by a review
that called each public function with wrong types, shapes and values)."""

import jax
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.prediction import predict_loss
from bayes_scaling.reliability import assess_info

H = bs.HOFFMANN_2022


@pytest.fixture(scope="module")
def data():
    return bs.example_data()


@pytest.mark.parametrize("call", [
    lambda d: bs.bootstrap(0, d, 8),
    lambda d: bs.sample(0, d),
    lambda d: bs.simulate(0, H, d.N, d.D, 0.01),
    lambda d: predict_loss(H, 7e10, 1.4e12, sigma=0.01, key=0),
    lambda d: bs.backtest.backtest(d, above_compute=1e21, key=3),
])
def test_an_int_key_is_refused_before_any_work(data, call):
    # JAX's own error came from deep inside, and bs.bootstrap raised it only after its full-data fit
    with pytest.raises(TypeError, match=r"key must be a JAX PRNG key, e\.g\. jax\.random\.key\(0\); got the int"):
        call(data)


def test_a_legacy_prng_key_is_still_a_key():
    old = predict_loss(H, 7e10, 1.4e12, sigma=0.01, key=jax.random.PRNGKey(0), intervals="exact-law")
    assert np.isfinite(float(old["predictive_upper"]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=-np.ones(81)), "weights must be finite and >= 0; 81 bad"),
    (dict(weights=np.full(81, np.nan)), "weights must be finite and >= 0"),
    (dict(weights=np.zeros(81)), "weights select 0 points"),
    (dict(starts=np.full((4, 5), np.nan)), "starts must be finite; 4 of 4"),
    (dict(polish=0), "polish must be an integer >= 1"),
    (dict(screen_steps=-1), "screen_steps must be an integer >= 0"),
])
def test_fit_refuses_bad_settings(data, kwargs, match):
    # negative weights gave converged=True with objective -2.8e44; NaN starts an all-NaN law with a warning
    with pytest.raises(ValueError, match=match):
        bs.fit(data, **kwargs)


def test_fit_refuses_what_is_not_a_dataset(data):
    with pytest.raises(TypeError, match="data must be a bayes_scaling Dataset .* got list"):
        bs.fit([data.N, data.D, data.loss])


@pytest.mark.parametrize("noise, N_len, match", [
    (-0.01, 81, "noise must be a finite number >= 0"),
    (float("nan"), 81, "noise must be a finite number >= 0"),
    ("0.01", 81, "noise must be a finite number >= 0"),
    (0.01, 79, r"N and D must be 1-D arrays of one length; got shapes \(79,\) and \(81,\)"),
])
def test_simulate_refuses_bad_noise_and_designs(data, noise, N_len, match):
    with pytest.raises(ValueError, match=match):
        bs.simulate(jax.random.key(0), H, data.N[:N_len], data.D, noise)


@pytest.mark.parametrize("kwargs, match", [
    (dict(N=[7e10, 1e11, 2e11], D=[1.4e12, 2e12]), r"must broadcast to one shape; got N \(3,\), D \(2,\)"),
    (dict(N=7e10, D=1.4e12, U=1e11), "does not read unique tokens U"),
    (dict(N=7e10, D=1.4e12, sigma=0.01, key=jax.random.key(0), n_draws=0), "n_draws must be an integer >= 1"),
])
def test_predict_loss_names_the_bad_query(kwargs, match):
    with pytest.raises(ValueError, match=match):
        predict_loss(H, **kwargs)


def test_one_nuts_chain_is_not_called_converged(data):
    # R-hat needs two chains; with one it was skipped and the fit reported reliable with max_rhat null
    with pytest.warns(bs.posterior.diagnostics.ConvergenceWarning, match="one chain"):
        post = bs.sample(jax.random.key(0), data, chains=1, warmup=100, samples=100)
    assert not post.diagnostics["converged"]
    problems = assess_info(post.diagnostics)
    assert "NUTS: R-hat cannot be assessed from one chain (run at least 2)" in problems


def test_a_fit_result_or_a_name_where_a_law_value_belongs_is_refused(data):
    from bayes_scaling.prediction import allocate

    res = bs.fit(data)
    with pytest.raises(TypeError, match=r"law must be a law value .* got FitResult; pass its \.law"):
        allocate(res, 1e22)
    with pytest.raises(TypeError, match="got FitResult; pass its .law"):
        bs.summarize_law(res)
    with pytest.raises(TypeError, match="a name is a spec, not a value"):
        predict_loss("chinchilla", 7e10, 1.4e12)
    assert np.isfinite(float(allocate(res.law, 1e22).N_opt))


@pytest.mark.parametrize("call, error, match", [
    (lambda d: bs.backtest.backtest([d.N, d.D, d.loss], above_compute=1e21, method="point"), TypeError,
     "data must be a bayes_scaling Dataset"),
    (lambda d: bs.prediction.learn_discrepancy(list(d.loss)), TypeError, "data must be a bayes_scaling Dataset"),
    (lambda d: bs.analysis.isoflop.isoflop([1, 2]), TypeError, "data must be a bayes_scaling Dataset"),
    # a negative k gave another factor (1.127 for 1.309) silently, and NaN results in isoflop
    (lambda d: bs.prediction.learn_discrepancy(d, flops_per_param_token=-6), ValueError,
     "flops_per_param_token must be a finite number > 0"),
    (lambda d: bs.backtest.backtest(d, above_compute=1e21, method="point", flops_per_param_token=-6), ValueError,
     "flops_per_param_token must be a finite number > 0"),
    (lambda d: bs.analysis.isoflop.isoflop(d, flops_per_param_token=0), ValueError,
     "flops_per_param_token must be a finite number > 0"),
    (lambda d: bs.analysis.isoflop.isoflop(d, replicates=0), ValueError, "replicates must be an integer >= 2"),
    (lambda d: bs.prediction.learn_discrepancy(d, fractions=(0.0, 1.5)), ValueError, r"fractions must be numbers in \(0, 1\)"),
    (lambda d: bs.sample(jax.random.key(0), d, target_accept=1.5), ValueError, r"target_accept must be a number in \(0, 1\)"),
    (lambda d: bs.sample(jax.random.key(0), d, max_tree_depth=0), ValueError, "max_tree_depth must be an integer >= 1"),
    (lambda d: bs.sample(jax.random.key(0), d, chains=True), ValueError, "chains must be an integer >= 1"),
    (lambda d: bs.from_csv(5), TypeError, "from_csv needs a path or a text buffer; got the int 5"),
])
def test_analysis_settings_are_checked_where_they_enter(data, call, error, match):
    with pytest.raises(error, match=match):
        call(data)


def test_compare_and_budget_tables_refuse_bad_settings_before_any_work(data):
    from bayes_scaling.prediction import allocation_table

    with pytest.raises(ValueError, match="C holds no compute budget"):
        allocation_table(H, [])  # was numpy's "cannot reshape array of size 0"
    # method="best" failed inside ArviZ after every law had been sampled (17 s)
    with pytest.raises(ValueError, match="method must be one of"):
        bs.compare(data, method="best")
    with pytest.raises(ValueError, match="pareto_k_max must be a number > 0"):
        bs.compare(data, pareto_k_max=-1)


def test_a_point_law_with_a_nan_parameter_is_refused():
    # every column of predict_loss and allocate was NaN, with no warning (sampled laws drop and warn)
    from bayes_scaling.prediction import allocate

    law = H._replace(E=float("nan"))
    with pytest.raises(ValueError, match="law has non-finite parameters: E=nan"):
        predict_loss(law, 7e10, 1.4e12)
    with pytest.raises(ValueError, match="non-finite parameters"):
        allocate(law, 1e22)
