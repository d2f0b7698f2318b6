"""analysis.profile: the fit objective minimised over the other parameters along one parameter."""

import jax.numpy as jnp
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.analysis.profile import profile
from bayes_scaling.fitting import objective
from bayes_scaling.laws import Chinchilla, Constrained, free_names


def test_profile_touches_the_fit_at_its_estimate_and_lies_above_it_elsewhere():
    ds = bs.example_data()
    names = free_names(Chinchilla)
    # two free parameters (the exponents; the rest fixed at the law the data were simulated from) keep
    # the compiled programs small
    spec = Constrained(Chinchilla, fixed={n: float(getattr(bs.HOFFMANN_2022, n)) for n in names[:3]})
    vals = np.array([[0.2, 0.2], [0.3, 0.4], [0.5, 0.3]])
    starts = np.where(spec.positive_mask(), np.log(vals), vals)  # the spec's unconstrained coordinates
    res = bs.fit(ds, law=spec, starts=starts)
    name = names[3]
    best = float(getattr(res.law, name))
    p = profile(ds, name, [0.9 * best, best, 1.1 * best], law=spec, starts=starts)
    assert np.all(p["converged"])
    # the minimum over the other parameters at the estimate is the fit's own optimum (both BFGS-converged)
    assert float(p["objective"][1]) == pytest.approx(float(res.objective), rel=1e-6)
    assert np.all(p["objective"] >= float(res.objective) * (1 - 1e-9))
    assert p["excess"][1] == 0 and np.all(p["excess"] >= 0)
    np.testing.assert_allclose(np.asarray(getattr(p["law"], name)), p["values"], rtol=1e-12)


def test_profile_of_the_only_free_parameter_is_the_objective_itself():
    ds = bs.example_data()
    law = bs.HOFFMANN_2022
    names = free_names(Chinchilla)
    spec = Constrained(Chinchilla, fixed={n: float(getattr(law, n)) for n in names[1:]})
    p = profile(ds, names[0], [1.6, 1.69, 1.8], law=spec)
    assert p["converged"].all()
    want = [float(objective(jnp.log(jnp.asarray([v])), ds.log_inputs(spec), jnp.log(ds.loss), law=spec))
            for v in p["values"]]
    np.testing.assert_allclose(p["objective"], want, rtol=1e-12)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        profile(ds, names[0], [], law=spec)
