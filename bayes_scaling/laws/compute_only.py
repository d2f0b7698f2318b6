r"""Loss against training compute alone: :math:`L(C) = E + A\,C^{-\alpha}`.

The form that gating and effective-compute arguments use, and the one behind the compute scaling
laws of Kaplan et al. 2020 (eq. 1.3, with E = 0) and of OpenAI's GPT-4 report (a power law plus an
irreducible loss, fitted to final loss against compute). C is the training compute in FLOP: the
data's compute column when it has one, else ``C = 6 N D``.

On compute-optimal runs of a Chinchilla law :math:`E + A N^{-a} + B D^{-b}` the form is exact:
along the frontier both reducible terms fall as :math:`C^{-ab/(a+b)}`, so ``alpha = a b / (a + b)``
and E is the Chinchilla E (Hoffmann et al. 2022, eq. 4 substituted into eq. 2). Off the frontier
(e.g. an isoFLOP sweep) the loss at one C varies with N, which this form reads as noise.

Coordinates
-----------
The reported parameters are E, A and alpha of ``L = E + A C^-alpha`` exactly. The optimiser moves
in (log E, log A, log alpha). Because A sets the reducible loss at C = 1 FLOP, log A and alpha are
tied by the data (``log A - alpha log C`` is what a run constrains, and log C ~ 46 at 1e20 FLOP), so
the start grid is laid out in the reducible loss at a reference compute of 1e20 FLOP,
``A_ref = A 1e20^-alpha`` in {0.05, 0.2, 0.8, 3} nats, with E in {0.5, 1, 1.5, 2.2, 3} nats and
alpha in {0.02, 0.05, 0.1, 0.2, 0.4, 0.8}, mapped back to ``log A = log A_ref + alpha log 1e20``
(120 starts). The posterior samples the reducible term at the data's centre (the weighted mean
log C), ``A_c = A C_centre^-alpha``, in place of A, like Chinchilla's ``A_c``: this removes the
-0.999 correlation between log A and alpha that a prior on A would leave to the sampler.

Even so, E, A_c and alpha stay correlated at -0.98 to -0.99 on compute-optimal runs: over a few
decades of C the data pin down the loss at the centre, ``L_c = E + A_c``, and the log-log slope
there, ``s_c = alpha A_c / L_c``, and only weakly the curvature, ``s_c^2 E / A_c``. The NUTS
engine therefore moves in *level coordinates* (this law's ``nuts_fast_path``, like Chinchilla's):
``(log L_c, log s_c, log(A_c / E))`` in place of ``(log E, log A_c, log alpha)``, a unit-Jacobian
change of variables (priors and draws unchanged). On 24 compute-optimal runs (noise 0.01, 2 x 300
draws, 6 datasets; ``python benchmarks/bench_law_recovery.py --geometry``) it takes the leapfrog
steps per draw from 11-19 to 6-8 and the smallest bulk ESS from 94-204 to 331-582; the centred
sites alone gave divergences in some of 12 datasets (tests/test_law_forms.py).

Priors (defaults; losses in nats per token)
-------------------------------------------
* ``E ~ LogNormal(log 1.5, 1)``: the irreducible loss, the same quantity and prior as Chinchilla's
  E (published fits 1.69-1.82 nats/token; Hoffmann et al. 2022, Besiroglu et al. 2024); 95% mass
  (0.21, 10.6), and E -> 0 (Kaplan's pure power law) stays possible.
* ``A_c ~ LogNormal(log 0.5, 1.5)``: the reducible loss at the data's centre, 0.026-9.5 nats with
  95% mass (as Chinchilla's A_c and B_c; on Hoffmann et al.'s frontier from 1e18 to 1e22 FLOP it is
  about 0.5 nats at the centre).
* ``alpha ~ LogNormal(log 0.15, 0.75)``: 95% mass in (0.035, 0.65). On a Chinchilla frontier
  ``alpha = a b / (a + b)``: 0.154 for Hoffmann et al.'s (0.34, 0.28), 0.178 for Besiroglu et al.'s
  (0.347, 0.367); Kaplan et al.'s compute exponent without an irreducible term is 0.050 (eq. 1.3),
  a lower bound for the form with E. Little mass near 0, where the term becomes a constant
  indistinguishable from E.

References:
    Kaplan et al. 2020, "Scaling Laws for Neural Language Models", arXiv:2001.08361, eq. 1.3.
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 2 and 4.
    Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt", arXiv:2404.10102.
    OpenAI 2023, "GPT-4 Technical Report", arXiv:2303.08774, sec. 3.1.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .base import Law, factorial

__all__ = ["ComputeOnly"]

_C_REF = 1e20  # reference compute of the start grid's levels (see the module docstring)
_E_LEVELS = (0.5, 1.0, 1.5, 2.2, 3.0)
_A_LEVELS = (0.05, 0.2, 0.8, 3.0)
_EXPONENTS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)


def _from_levels(E, A_ref, alpha):
    """Unconstrained (log E, log A, log alpha) from the reducible loss at the reference compute."""
    return np.stack([np.log(E), np.log(A_ref) + alpha * math.log(_C_REF), np.log(alpha)], axis=-1)


class ComputeOnly(Law):
    r"""Compute-only law :math:`L(C) = E + A\,C^{-\alpha}`, C the training compute in FLOP.

    Evaluated in log space, ``log L = logaddexp(log E, log A - alpha log C)``.

    Attributes:
        E: irreducible loss (> 0).
        A: coefficient of the reducible term (> 0); the reducible loss at C = 1 FLOP.
        alpha: compute exponent (> 0).

    Examples:
        >>> law = ComputeOnly(E=1.69, A=1.6e3, alpha=0.154)
        >>> round(float(law.loss(1e21)), 4)
        2.6235

    References:
        Kaplan et al. 2020, eq. 1.3; Hoffmann et al. 2022, eq. 2 and 4 (the frontier's exponent).
    """

    name = "compute-only"
    names = ("E", "A", "alpha")
    inputs = ("C",)
    support = {"E": "positive", "A": "positive", "alpha": "positive"}
    site_of = {"A": "A_c"}

    def log_loss_from_logs(self, logC):
        """log L from log C."""
        return jnp.logaddexp(jnp.log(self.E) * jnp.ones_like(logC), jnp.log(self.A) - self.alpha * logC)

    # ------------------------------------------------------------------ fitting declarations

    @classmethod
    def start_grid(cls) -> np.ndarray:
        """120 starts: E x A_ref (the reducible loss at 1e20 FLOP) x alpha levels (see the module
        docstring), in (log E, log A, log alpha)."""
        g = factorial(_E_LEVELS, _A_LEVELS, _EXPONENTS)
        return _from_levels(g[:, 0], g[:, 1], g[:, 2])

    @classmethod
    def start_box(cls):
        g = cls.start_grid()
        return g.min(axis=0), g.max(axis=0)

    @classmethod
    def coarse_grid(cls) -> np.ndarray:
        """8 starts for the bootstrap's basin search: E in {1, 2}, A_ref in {0.1, 1} nats, alpha in
        {0.05, 0.3}."""
        g = factorial((1.0, 2.0), (0.1, 1.0), (0.05, 0.3))
        return _from_levels(g[:, 0], g[:, 1], g[:, 2])

    @staticmethod
    def plausible_bounds() -> tuple[np.ndarray, np.ndarray]:
        """A box in (log E, log A, log alpha) outside which a fit is degenerate: E below e^-8 or above
        e^4 nats (as Chinchilla's), log A outside (-30, 150), alpha below 1e-3 or above 3."""
        lower = np.array([-8.0, -30.0, math.log(1e-3)])
        upper = np.array([4.0, 150.0, math.log(3.0)])
        return lower, upper

    @classmethod
    def jitter_scale(cls) -> np.ndarray:
        """0.05 in log E, 0.5 in log A, 0.05 in log alpha."""
        return np.array([0.05, 0.5, 0.05])

    # ------------------------------------------------------------------ posterior declarations

    @classmethod
    def default_priors(cls) -> dict:
        """Priors on E, A_c, alpha (see the module docstring for the reasoning)."""
        import numpyro.distributions as dist

        return {
            "E": dist.LogNormal(math.log(1.5), 1.0),
            "A_c": dist.LogNormal(math.log(0.5), 1.5),
            "alpha": dist.LogNormal(math.log(0.15), 0.75),
        }

    prior_note = ("A_c is the reducible term at the fitted points' (weighted) mean log C: "
                  "A = A_c exp(alpha mean_logC)")

    @classmethod
    def from_sites(cls, values: dict, center):
        alpha = values["alpha"]
        A = values["A"] if "A" in values else values["A_c"] * jnp.exp(alpha * center[0])
        return cls(E=values["E"], A=A, alpha=alpha)

    def to_sites(self, center) -> dict:
        return {"E": self.E, "A_c": self.A * jnp.exp(-self.alpha * center[0]), "alpha": self.alpha}

    @classmethod
    def posterior_starts(cls, logs, logL, weights, center) -> list[dict]:
        """Eight starts from the data's loss level: E at 60% or 90% of the smallest loss, the rest at
        the centre in the reducible term (at least 5% of the loss spread), exponents 0.05, 0.1, 0.2
        or 0.4."""
        w = jnp.ones_like(logL) if weights is None else weights
        big = jnp.max(jnp.where(w > 0, logL, -jnp.inf))
        small = jnp.min(jnp.where(w > 0, logL, jnp.inf))
        lmin = jnp.exp(small)
        spread = jnp.maximum(jnp.exp(big) - lmin, 1e-3 * lmin)
        level = jnp.exp(jnp.sum(w * logL) / jnp.sum(w))
        starts = []
        for expo in (0.2, 0.1, 0.4, 0.05):
            for frac_e in (0.9, 0.6):
                E = frac_e * lmin
                starts.append({"E": E, "A_c": jnp.maximum(level - E, 0.05 * spread),
                               "alpha": expo * jnp.ones(())})
        return starts


# ---------------------------------------------------------------------- the NUTS engine's level coordinates


def _loglik(vals: dict, logs, center, obs, w, likelihood):
    """Weighted log-likelihood from the constrained site values (the generic density, by autodiff)."""
    import numpyro.distributions as dist

    mu = ComputeOnly.from_sites(vals, center).log_loss_from_logs(*logs)
    if likelihood == "student-t":
        lp = dist.StudentT(vals["nu"], mu, vals["sigma"]).log_prob(obs)
    else:
        lp = dist.Normal(mu, vals["sigma"]).log_prob(obs)
    return jnp.sum(jnp.where(w > 0, w * lp, 0.0))


def level_ok(priors: dict) -> bool:
    """The level coordinates need E, A_c and alpha on (0, inf), sampled as their logs."""
    from numpyro.distributions import constraints

    return all(k in priors and priors[k].support is constraints.positive for k in ("E", "A_c", "alpha"))


def to_level(z):
    """(log E, log A_c, log alpha, ...) -> (log L_c, log s_c, log(A_c / E), ...).

    ``L_c = E + A_c`` is the loss at the data's centre and ``s_c = alpha A_c / L_c`` minus its log-log
    slope there, the two things the data pin down; ``log(A_c / E)`` then sets the curvature
    (``s_c^2 E / A_c``). A unit-Jacobian map (|det| = 1), so no density correction is needed.
    """
    le, la, lal = z[0], z[1], z[2]
    l0 = jnp.logaddexp(le, la)
    return jnp.concatenate([jnp.stack([l0, lal + la - l0, la - le]), z[3:]])


def from_level(v):
    """Inverse of :func:`to_level`."""
    l0, ls, r = v[0], v[1], v[2]
    sp = jnp.logaddexp(0.0, r)
    le = l0 - sp
    return jnp.concatenate([jnp.stack([le, le + r, ls + sp - r]), v[3:]])


def _fast_path():
    from .chinchilla_nuts import FastPath

    return FastPath(_loglik, level_ok, to_level, from_level)


ComputeOnly.nuts_fast_path = staticmethod(_fast_path)
