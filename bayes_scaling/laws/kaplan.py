r"""Kaplan et al. (2020)'s joint law :math:`L(N, D) = [(N_c/N)^{\alpha_N/\alpha_D} + D_c/D]^{\alpha_D}`.

A pure power law in each input with no irreducible term: as D -> inf it is ``(N_c/N)^alpha_N``
(Kaplan et al. 2020, eq. 1.1) and as N -> inf ``(D_c/D)^alpha_D`` (eq. 1.2). N counts non-embedding
parameters in the paper; the form itself does not care.

It has no closed-form allocation hook: :func:`bayes_scaling.prediction.allocate` takes the numerical
argmin along the isoFLOP line. (Along ``C = k N D`` the optimum is a power law,
``N_opt^(1+r) = r N_c^r C / (k D_c)`` with ``r = alpha_N / alpha_D``; its exponents are the derived
``a`` and ``b``, and a test checks the numerical argmin against it.)

Coordinates
-----------
The optimiser moves in the logs of the four parameters. Its start grid is a factorial grid in the
quantities a practitioner can reason about and that stay put when the exponents move: each term's
loss on its own at a reference size, ``L_N = (N_c / 1e9)^alpha_N`` and ``L_D = (D_c / 2e10)^alpha_D``,
in {1.5, 3, 6} nats, and each exponent in {0.03, 0.07, 0.15, 0.3, 0.5}, mapped back to
``log N_c = log 1e9 + log(L_N) / alpha_N`` (225 starts). A grid in ``log N_c`` itself wastes most of
its starts: at alpha_N = 0.5, N_c = 1e13 predicts 100 nats at N = 1e9. The grid contains Kaplan's
fit (L_N = 2.3, L_D = 2.0 at the references) between its levels.

The posterior samples the same two levels at the *data's centre* (the weighted mean log N and log D)
in place of N_c and D_c: ``L_N = (N_c / N_centre)^alpha_N`` and ``L_D = (D_c / D_centre)^alpha_D``.
The data fix ``alpha_N (log N_c - log N)`` far better than log N_c itself (at Kaplan's values
``d log L / d alpha_N = log(N_c / N) ~ 11``). Measured on 81 isoFLOP runs simulated from Kaplan's fit
(noise 0.01; ``python benchmarks/bench_law_recovery.py --geometry``): the posterior correlation of
log N_c with log alpha_N is -0.994 and of log D_c with log alpha_D -0.995; of the centred sites
-0.53 and -0.89. With the default dense mass matrix that takes NUTS from 7.5 to 6.6 leapfrog steps
per draw and the smallest bulk ESS from 1,861 to 2,707 (4 x 500 draws); with a diagonal one, from
84 to 18 steps per draw.

Priors (defaults; losses in nats per token)
-------------------------------------------
* ``L_N, L_D ~ LogNormal(log 2, 1)``: each term's loss alone at the data's centre. The law is a
  1/alpha_D-norm of the two, ``L = (L_N^(1/alpha_D) + L_D^(1/alpha_D))^alpha_D``, so with
  exponents near 0.1 it is close to the larger one: each is at most the observed loss at the centre,
  2-4 nats for web-text language models (Kaplan et al. 2020, Fig. 1; 2.3 and 2.0 nats at their
  fit's N = 1e9 and D = 2e10). 95% prior mass (0.28, 14) covers other units and corpora.
* ``alpha_N, alpha_D ~ LogNormal(log 0.1, 1)``: 95% mass in (0.014, 0.71). Published exponents of
  this form (no irreducible term) are small: alpha_N = 0.076, alpha_D = 0.103 for the joint fit
  (Kaplan et al. 2020, eq. 1.5 and sec. 4, the L(N, D) fit table; ../shared/TARGETS.md §6), 0.076
  and 0.095 for the separate fits (eq. 1.1, 1.2), 0.050 for compute (eq. 1.3). Without an
  irreducible term the exponent absorbs the floor, so a law with one (Chinchilla's 0.28-0.37) is
  not a guide; the prior still allows 0.5 (2.4 sd up) for other modalities.

References:
    Kaplan et al. 2020, "Scaling Laws for Neural Language Models", arXiv:2001.08361, eq. 1.1, 1.2,
    1.5 and sec. 4 (eq. 4.1 and its table of fitted values).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .base import Law, factorial

__all__ = ["Kaplan", "KAPLAN_2020"]

_N_REF = 1e9  # reference sizes of the start grid's levels (see the module docstring)
_D_REF = 2e10
_LEVELS = (1.5, 3.0, 6.0)
_EXPONENTS = (0.03, 0.07, 0.15, 0.3, 0.5)


def _from_levels(L_N, L_D, alpha_N, alpha_D, log_n_ref, log_d_ref):
    """Unconstrained (log N_c, log D_c, log alpha_N, log alpha_D) from the two levels."""
    return np.stack([log_n_ref + np.log(L_N) / alpha_N, log_d_ref + np.log(L_D) / alpha_D,
                     np.log(alpha_N), np.log(alpha_D)], axis=-1)


class Kaplan(Law):
    r"""Kaplan et al. (2020) law :math:`L(N, D) = [(N_c/N)^{\alpha_N/\alpha_D} + D_c/D]^{\alpha_D}`.

    Evaluated in log space,
    ``log L = alpha_D * logaddexp((alpha_N/alpha_D)(log N_c - log N), log D_c - log D)``, accurate in
    float64 whichever term dominates.

    Attributes:
        N_c: parameter scale (> 0); the loss is 1 nat at N = N_c with unlimited data.
        D_c: token scale (> 0); the loss is 1 nat at D = D_c with an unlimited model.
        alpha_N: parameter exponent (> 0).
        alpha_D: data exponent (> 0).

    Examples:
        >>> law = Kaplan(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)
        >>> round(float(law.loss(1e9, 2e10)), 4)
        2.3739

    References:
        Kaplan et al. 2020, "Scaling Laws for Neural Language Models", eq. 1.5 and sec. 4.
    """

    name = "kaplan"
    names = ("N_c", "D_c", "alpha_N", "alpha_D")
    inputs = ("N", "D")
    support = {"N_c": "positive", "D_c": "positive", "alpha_N": "positive", "alpha_D": "positive"}
    site_of = {"N_c": "L_N", "D_c": "L_D"}

    def log_loss_from_logs(self, logN, logD):
        """log L from log N and log D."""
        r = self.alpha_N / self.alpha_D
        return self.alpha_D * jnp.logaddexp(r * (jnp.log(self.N_c) - logN), jnp.log(self.D_c) - logD)

    def derived(self) -> dict:
        r"""``alpha_ratio = alpha_N / alpha_D`` (the exponent of N_c/N inside the bracket) and the
        isoFLOP allocation exponents ``N_opt ~ C^a``, ``D_opt ~ C^b``:
        ``a = alpha_D / (alpha_N + alpha_D)``, ``b = 1 - a``.

        These are for training to convergence on D tokens at ``C = k N D`` (the notion the
        prediction package uses), not Kaplan et al.'s compute-efficient frontier (eq. 1.7-1.8,
        N ~ C^0.73), which stops large models early through L(N, S).
        """
        s = self.alpha_N + self.alpha_D
        return {"alpha_ratio": self.alpha_N / self.alpha_D, "a": self.alpha_D / s, "b": self.alpha_N / s}

    # ------------------------------------------------------------------ fitting declarations

    @classmethod
    def start_grid(cls) -> np.ndarray:
        """225 starts: L_N, L_D in {1.5, 3, 6} nats at N = 1e9, D = 2e10; exponents in
        {0.03, 0.07, 0.15, 0.3, 0.5} (see the module docstring), in (log N_c, log D_c, log alpha_N,
        log alpha_D)."""
        g = factorial(_LEVELS, _LEVELS, _EXPONENTS, _EXPONENTS)
        return _from_levels(g[:, 0], g[:, 1], g[:, 2], g[:, 3], math.log(_N_REF), math.log(_D_REF))

    @classmethod
    def start_box(cls):
        g = cls.start_grid()
        return g.min(axis=0), g.max(axis=0)

    @classmethod
    def coarse_grid(cls) -> np.ndarray:
        """8 starts for the bootstrap's basin search: a 2^(4-1) fractional factorial, levels 2 or
        4 nats, exponents 0.05 or 0.2 (L_D's level = the product of the other three signs)."""
        pts = []
        for s1 in (-1, 1):
            for s2 in (-1, 1):
                for s3 in (-1, 1):
                    s4 = s1 * s2 * s3
                    pts.append((3.0 + s1, 3.0 + s4, 0.125 + 0.075 * s2, 0.125 + 0.075 * s3))
        p = np.asarray(pts, dtype=np.float64)
        return _from_levels(p[:, 0], p[:, 1], p[:, 2], p[:, 3], math.log(_N_REF), math.log(_D_REF))

    @staticmethod
    def plausible_bounds() -> tuple[np.ndarray, np.ndarray]:
        """A box in (log N_c, log D_c, log alpha_N, log alpha_D) outside which a fit is degenerate:
        N_c or D_c below 1 or above 1e50 (a term that is constant over any data), exponents below
        1e-3 or above 3."""
        lower = np.array([0.0, 0.0, math.log(1e-3), math.log(1e-3)])
        upper = np.array([math.log(1e50), math.log(1e50), math.log(3.0), math.log(3.0)])
        return lower, upper

    @classmethod
    def jitter_scale(cls) -> np.ndarray:
        """0.3 in log N_c and log D_c, 0.05 in the log exponents."""
        return np.array([0.3, 0.3, 0.05, 0.05])

    # ------------------------------------------------------------------ posterior declarations

    @classmethod
    def default_priors(cls) -> dict:
        """Priors on L_N, L_D, alpha_N, alpha_D (see the module docstring for the reasoning)."""
        import numpyro.distributions as dist

        return {
            "L_N": dist.LogNormal(math.log(2.0), 1.0),
            "L_D": dist.LogNormal(math.log(2.0), 1.0),
            "alpha_N": dist.LogNormal(math.log(0.1), 1.0),
            "alpha_D": dist.LogNormal(math.log(0.1), 1.0),
        }

    prior_note = ("L_N and L_D are each term's loss alone at the fitted points' (weighted) mean log N and "
                  "log D: N_c = N_centre L_N^(1/alpha_N), D_c = D_centre L_D^(1/alpha_D)")

    @classmethod
    def from_sites(cls, values: dict, center):
        alpha_N, alpha_D = values["alpha_N"], values["alpha_D"]
        N_c = values["N_c"] if "N_c" in values else jnp.exp(center[0] + jnp.log(values["L_N"]) / alpha_N)
        D_c = values["D_c"] if "D_c" in values else jnp.exp(center[1] + jnp.log(values["L_D"]) / alpha_D)
        return cls(N_c=N_c, D_c=D_c, alpha_N=alpha_N, alpha_D=alpha_D)

    def to_sites(self, center) -> dict:
        return {"L_N": jnp.exp(self.alpha_N * (jnp.log(self.N_c) - center[0])),
                "L_D": jnp.exp(self.alpha_D * (jnp.log(self.D_c) - center[1])),
                "alpha_N": self.alpha_N, "alpha_D": self.alpha_D}

    @classmethod
    def posterior_starts(cls, logs, logL, weights, center) -> list[dict]:
        """Eight starts from the data's loss level L_bar (weighted geometric mean): one term at
        0.9 L_bar and the other at 0.6 or 0.8 L_bar, each way round, exponents 0.07 or 0.2."""
        w = jnp.ones_like(logL) if weights is None else weights
        level = jnp.exp(jnp.sum(w * logL) / jnp.sum(w))
        starts = []
        for expo in (0.07, 0.2):
            for low in (0.8, 0.6):
                for n_first in (True, False):
                    hi, lo = 0.9 * level, low * level
                    starts.append({"L_N": hi if n_first else lo, "L_D": lo if n_first else hi,
                                   "alpha_N": expo * jnp.ones(()), "alpha_D": expo * jnp.ones(())})
        return starts


KAPLAN_2020 = Kaplan(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)
"""Kaplan et al. 2020's fitted joint law (eq. 1.5, sec. 4; ../shared/TARGETS.md §6)."""
