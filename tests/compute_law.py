"""A compute-only law, L(C) = E + A C^-alpha, defined only in the tests (shared by the sweep and backtest
tests): the package must serve it without knowing it."""

import jax.numpy as jnp
import numpy as np

from bayes_scaling.laws import Law


class ComputeLaw(Law):
    """L(C) = E + A C^-alpha: a 3-parameter law of compute only (no N, no D, no allocation)."""

    name = "test_compute_power"
    names = ("E", "A", "alpha")
    inputs = ("C",)
    support = {"E": "positive", "A": "positive", "alpha": "positive"}

    def log_loss_from_logs(self, logC):
        return jnp.logaddexp(jnp.log(self.E), jnp.log(self.A) - self.alpha * logC)

    @classmethod
    def start_box(cls):
        return np.array([-1.0, 0.0, np.log(0.02)]), np.array([1.5, 15.0, np.log(1.0)])

    @classmethod
    def plausible_bounds(cls):
        return np.array([-8.0, -10.0, np.log(1e-3)]), np.array([4.0, 40.0, np.log(3.0)])
