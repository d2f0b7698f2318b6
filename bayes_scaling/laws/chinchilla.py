r"""Hoffmann et al. (2022)'s law :math:`L(N, D) = E + A / N^\alpha + B / D^\beta`.

Beside the protocol's required parts this law supplies every optional one: Hoffmann's 4,500-start
grid, closed-form compute-optimal allocation and target compute (Hoffmann et al. 2022, eq. 4), a
log-sum-exp hot path for the optimiser, a centred parameterisation for the posterior, and the NUTS
engine's fast path (a hand-written likelihood gradient and level coordinates,
:mod:`bayes_scaling.laws.chinchilla_nuts`). The generic paths give the same numbers (tests check).

Priors (defaults; losses in nats per token)
-------------------------------------------
* ``E ~ LogNormal(log 1.5, 1.0)``: irreducible loss. Published fits of this form put E at
  1.69-1.82 nats/token (Hoffmann et al. 2022; Besiroglu et al. 2024); the prior's 95% mass,
  (0.21, 10.6), covers any text corpus and still allows E -> 0 (a pure power law, Kaplan et al.
  2020) at low density.
* ``A_c, B_c ~ LogNormal(log 0.5, 1.5)``: each reducible term's size *at the data's centre*
  (the weighted mean log N and log D), ``A = A_c exp(alpha mean log N)``. It is what the data
  constrain directly and what a practitioner can reason about (on Epoch's data both terms are about
  0.38 nats); 95% prior mass (0.026, 9.5) nats. A prior on A itself would have to span e^0 to e^25
  (Hoffmann's grid) and would say nothing, because A's scale is set by alpha. Centring also removes
  the -0.9999 posterior correlation between log A and alpha.
* ``alpha, beta ~ LogNormal(log 0.35, 0.75)``: 95% mass in (0.08, 1.52), spanning every published
  exponent for this form (0.28-0.37 for Hoffmann, Epoch and Muennighoff et al. 2023) with room to
  spare, positive, and with little mass near 0, where a term turns into a constant
  indistinguishable from E.

References:
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 2, eq. 4, App. D.2.
    Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt", arXiv:2404.10102.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .base import Law, factorial

__all__ = ["Chinchilla", "HOFFMANN_2022"]


class Chinchilla(Law):
    r"""Hoffmann et al. (2022) law :math:`L(N, D) = E + A / N^\alpha + B / D^\beta`.

    Evaluated in log space with a log-sum-exp,
    ``log L = LSE(log A - alpha log N, log B - beta log D, log E)``, which stays accurate in float64
    for the extreme A and B that multi-start fits visit.

    Attributes:
        E: irreducible loss (> 0).
        A: parameter-term coefficient (> 0).
        B: data-term coefficient (> 0).
        alpha: parameter exponent.
        beta: data exponent.

    Examples:
        >>> law = Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
        >>> round(float(law.loss(7e10, 1.4e12)), 4)
        1.9366

    References:
        Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 2 and App. D.2.
    """

    name = "chinchilla"
    names = ("E", "A", "B", "alpha", "beta")
    inputs = ("N", "D")
    support = {"E": "positive", "A": "positive", "B": "positive", "alpha": "real", "beta": "real"}
    # Unconstrained coordinates used by the optimiser, in Hoffmann's order and notation.
    unconstrained_names = ("e", "a", "b", "alpha", "beta")
    site_of = {"A": "A_c", "B": "B_c"}

    def log_loss_from_logs(self, logN, logD):
        """log L from log N and log D (avoids recomputing logs inside an objective)."""
        terms = jnp.stack(
            jnp.broadcast_arrays(
                jnp.log(self.A) - self.alpha * logN,
                jnp.log(self.B) - self.beta * logD,
                jnp.log(self.E) * jnp.ones_like(logN * logD),
            ),
            axis=0,
        )
        return jax.nn.logsumexp(terms, axis=0)

    def derived(self) -> dict:
        """Allocation exponents: N_opt ~ C^a, D_opt ~ C^b, a = beta/(alpha+beta), b = 1 - a."""
        s = self.alpha + self.beta
        return {"a": self.beta / s, "b": self.alpha / s}

    @staticmethod
    def log_loss_unconstrained(x, logN, logD):
        """log L straight from the unconstrained vector (the optimiser's hot path)."""
        e, a, b, alpha, beta = x[0], x[1], x[2], x[3], x[4]
        t1 = a - alpha * logN
        t2 = b - beta * logD
        # One shared max for the three-term log-sum-exp: 1.7x faster value-and-gradient than two
        # nested logaddexp calls (measured in benchmarks/bench_bootstrap.py), equal to 4e-16.
        m = jax.lax.stop_gradient(jnp.maximum(jnp.maximum(t1, t2), e))
        return m + jnp.log(jnp.exp(t1 - m) + jnp.exp(t2 - m) + jnp.exp(e - m))

    # ------------------------------------------------------------------ fitting declarations

    @staticmethod
    def hoffmann_grid() -> np.ndarray:
        """Hoffmann's 4,500-start grid in (e, a, b, alpha, beta), shape (4500, 5).

        alpha, beta in {0, 0.5, ..., 2}; e in {-1, -0.5, ..., 1}; a, b in {0, 5, ..., 25}
        (Hoffmann et al. 2022, App. D.2; Besiroglu et al. 2024, notebook cell 18).
        """
        alphas = np.arange(0.0, 2.01, 0.5)
        es = np.arange(-1.0, 1.01, 0.5)
        abs_ = np.arange(0.0, 25.01, 5.0)
        return factorial(es, abs_, abs_, alphas, alphas)

    @classmethod
    def start_grid(cls) -> np.ndarray:
        """Hoffmann's 4,500-start grid (:meth:`hoffmann_grid`)."""
        return cls.hoffmann_grid()

    @classmethod
    def start_box(cls):
        g = cls.hoffmann_grid()
        return g.min(axis=0), g.max(axis=0)

    @staticmethod
    def plausible_bounds() -> tuple[np.ndarray, np.ndarray]:
        """A box in (e, a, b, alpha, beta) outside which a fitted law is degenerate.

        The fit itself is unconstrained; an optimum at or beyond this box (alpha or beta at 0 or
        above 3, E vanishing, coefficients beyond e^40) is reported as sitting on a bound.
        """
        lower = np.array([-8.0, -10.0, -10.0, 1e-3, 1e-3])
        upper = np.array([4.0, 40.0, 40.0, 3.0, 3.0])
        return lower, upper

    @classmethod
    def coarse_grid(cls) -> np.ndarray:
        """A coarse global grid of 8 starts: a 2^(5-2) fractional factorial inside Hoffmann's grid.

        e in {-0.5, 0.5}, a, b in {5, 15}, alpha, beta in {0.5, 1} (a's level = e's x alpha's, b's
        level = e's x beta's): the region of Hoffmann's 4,500-start grid from which a full BFGS run
        most often reaches the global optimum on Epoch's data (30-57% of the starts there, 17% over
        the whole grid).
        """
        pts = []
        for s_e in (-1, 1):
            for s_al in (-1, 1):
                for s_be in (-1, 1):
                    s_a, s_b = s_e * s_al, s_e * s_be
                    pts.append([0.5 * s_e, 10 + 5 * s_a, 10 + 5 * s_b, 0.75 + 0.25 * s_al,
                                0.75 + 0.25 * s_be])
        return np.asarray(pts, dtype=np.float64)

    @classmethod
    def jitter_scale(cls) -> np.ndarray:
        """0.05 in log E, 0.5 in log A and log B, 0.02 in the exponents."""
        return np.array([0.05, 0.5, 0.5, 0.02, 0.02])

    # ------------------------------------------------------------------ closed forms (one set)

    def closed_allocation(self, C, k):
        r"""Closed-form compute-optimal (N_opt, D_opt) for budgets ``C`` (any shape), ``C = k N D``.

        :math:`G = (\alpha A / (\beta B))^{1/(\alpha+\beta)}`,
        :math:`N_{opt} = G (C/k)^{\beta/(\alpha+\beta)}`, ``D_opt = C / (k N_opt)`` so that
        ``k N_opt D_opt = C`` to rounding. NaN where ``alpha <= 0`` or ``beta <= 0`` (no interior
        optimum). Hoffmann et al. 2022, eq. 4.
        """
        C = jnp.asarray(C, dtype=jnp.float64)
        alpha, beta = self.alpha, self.beta
        s = alpha + beta
        ok = (alpha > 0) & (beta > 0)
        safe_a = jnp.where(ok, alpha, 1.0)
        safe_b = jnp.where(ok, beta, 1.0)
        log_ck = jnp.log(C) - jnp.log(k)
        log_g = (jnp.log(safe_a) + jnp.log(self.A) - jnp.log(safe_b) - jnp.log(self.B)) / (safe_a + safe_b)
        logN = jnp.where(ok, log_g + (beta / s) * log_ck, jnp.nan)
        N = jnp.exp(logN)
        return N, C / (k * N)

    def design_optimal_size(self, C, k):
        """N_opt(C) in plain float64 arithmetic, ``G (C/k)^(beta/(alpha+beta))``, for building designs.

        The isoFLOP design helper (:func:`bayes_scaling.data.chinchilla_design`) has always used this
        expression; :meth:`closed_allocation` computes the same in log space and differs in the last
        bits (<= 4e-15 relative), which would change every simulated dataset built on the design.
        """
        a, b = float(self.alpha), float(self.beta)
        G = (a * float(self.A) / (b * float(self.B))) ** (1.0 / (a + b))
        return np.array([G * (float(c) / k) ** (b / (a + b)) for c in np.ravel(C)])

    def closed_compute_for_target(self, target, k):
        r"""Closed-form minimal compute reaching ``target``: (C, N_opt, D_opt, reachable).

        On the compute-optimal frontier :math:`\alpha A N^{-\alpha} = \beta B D^{-\beta}`, so
        :math:`L_{opt} - E = A N_{opt}^{-\alpha} (\alpha+\beta)/\beta`; substituting
        :math:`N_{opt} = G (C/k)^{\beta/(\alpha+\beta)}` and solving for C gives the minimal compute
        (Hoffmann et al. 2022, eq. 4, inverted). Targets at or below E give ``inf``, not reachable.
        """
        target = jnp.asarray(target, dtype=jnp.float64)
        alpha, beta = self.alpha, self.beta
        ok = (alpha > 0) & (beta > 0)
        safe_a = jnp.where(ok, alpha, 1.0)
        safe_b = jnp.where(ok, beta, 1.0)
        s = safe_a + safe_b
        log_g = (jnp.log(safe_a) + jnp.log(self.A) - jnp.log(safe_b) - jnp.log(self.B)) / s
        reachable = target > self.E
        gap = jnp.where(reachable, target - self.E, 1.0)
        logN = (jnp.log(self.A) + jnp.log(s / safe_b) - jnp.log(gap)) / safe_a
        log_ck = (logN - log_g) * s / safe_b
        C = k * jnp.exp(log_ck)
        N = jnp.exp(logN)
        D = C / (k * N)
        C, N, D = (jnp.where(reachable, x, jnp.inf) for x in (C, N, D))
        C, N, D = (jnp.where(ok, x, jnp.nan) for x in (C, N, D))
        return C, N, D, reachable & ok

    def closed_exponents(self):
        """(a, b) = (beta, alpha) / (alpha + beta) (Hoffmann et al. 2022, eq. 4)."""
        s = self.alpha + self.beta
        return self.beta / s, self.alpha / s

    # ------------------------------------------------------------------ posterior declarations

    @classmethod
    def default_priors(cls) -> dict:
        """Priors on E, A_c, B_c, alpha, beta (see the module docstring for the reasoning)."""
        import numpyro.distributions as dist

        return {
            "E": dist.LogNormal(math.log(1.5), 1.0),
            "A_c": dist.LogNormal(math.log(0.5), 1.5),
            "B_c": dist.LogNormal(math.log(0.5), 1.5),
            "alpha": dist.LogNormal(math.log(0.35), 0.75),
            "beta": dist.LogNormal(math.log(0.35), 0.75),
        }

    prior_note = ("A_c and B_c are the reducible terms at the fitted points' (weighted) mean log N and "
                  "log D: A = A_c exp(alpha mean_logN), B = B_c exp(beta mean_logD)")

    @classmethod
    def from_sites(cls, values: dict, center):
        alpha, beta = values["alpha"], values["beta"]
        A = values["A"] if "A" in values else values["A_c"] * jnp.exp(alpha * center[0])
        B = values["B"] if "B" in values else values["B_c"] * jnp.exp(beta * center[1])
        return cls(E=values["E"], A=A, B=B, alpha=alpha, beta=beta)

    def to_sites(self, center) -> dict:
        return {"E": self.E, "A_c": self.A * jnp.exp(-self.alpha * center[0]),
                "B_c": self.B * jnp.exp(-self.beta * center[1]), "alpha": self.alpha, "beta": self.beta}

    @classmethod
    def posterior_starts(cls, logs, logL, weights, center) -> list[dict]:
        """Eight starts from the data's loss level: E at 70% or 95% of the smallest loss, the rest
        split 1:3 or 3:1 between the two terms at the centre, exponents 0.2 or 0.5."""
        w = jnp.ones_like(logL) if weights is None else weights
        big = jnp.max(jnp.where(w > 0, logL, -jnp.inf))
        small = jnp.min(jnp.where(w > 0, logL, jnp.inf))
        lmin = jnp.exp(small)
        spread = jnp.maximum(jnp.exp(big) - lmin, 1e-3 * lmin)
        starts = []
        for frac_e in (0.7, 0.95):
            for expo in (0.2, 0.5):
                for split in (0.25, 0.75):
                    E = frac_e * lmin
                    red = jnp.maximum(jnp.exp(jnp.sum(w * logL) / jnp.sum(w)) - E, 0.05 * spread)
                    starts.append({"E": E, "A_c": split * red, "B_c": (1 - split) * red,
                                   "alpha": expo * jnp.ones(()), "beta": expo * jnp.ones(())})
        return starts


def _fast_path():
    from . import chinchilla_nuts

    return chinchilla_nuts.FAST_PATH


Chinchilla.nuts_fast_path = staticmethod(_fast_path)

HOFFMANN_2022 = Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
"""Hoffmann et al. 2022's published (rounded) Approach-3 law (../shared/TARGETS.md §3)."""
