r"""Muennighoff et al. (2023)'s data-constrained law: repeated tokens and excess parameters decay.

.. math::

    L(N, D, U) = E + \frac{A}{N'^\alpha} + \frac{B}{D'^\beta},\qquad
    D' = U_D + U_D R_D^* (1 - e^{-R_D / R_D^*}),\qquad
    N' = U_N + U_N R_N^* (1 - e^{-R_N / R_N^*}),

with ``U_D = min(U, D)`` unique tokens seen, ``R_D = max(D / U_D - 1, 0)`` repetitions,
``U_N = min(N, N_opt(U_D))`` the base (Chinchilla) law's compute-optimal size for ``U_D`` tokens and
``R_N = max(N / U_N - 1, 0)`` the excess parameters. The base law's optimum
:math:`N = G (C/k)^{\beta/(\alpha+\beta)}`, :math:`D = G^{-1} (C/k)^{\alpha/(\alpha+\beta)}`,
:math:`G = (\alpha A / (\beta B))^{1/(\alpha+\beta)}` (Hoffmann et al. 2022, eq. 4) gives
:math:`N_{opt}(U) = G (G U)^{\beta/\alpha}`, exactly the ``D_to_N`` of the datablations README.
``R_D^*`` (``R_D``) and ``R_N^*`` (``R_N``) are the repetition "half-lives": after ``R^*`` repeats a
repeated token (excess parameter) is worth ``1/e`` of a fresh one; as ``R^* -> inf`` the law
becomes Chinchilla's at (N, D). ``U_D = min(U, D)`` only matters below one epoch (``U > D``, the
unique-token *budget* not used up); the datablations README's allocation search clips ``U`` the
same way, and its runs all have ``U <= D``.

The law needs ``alpha, beta > 0`` (``N_opt(U)`` takes their logs), so both are fitted as logs.

Priors (defaults; losses in nats per token)
-------------------------------------------
* ``E``, ``A_c``, ``B_c``, ``alpha``, ``beta``: those of :class:`~bayes_scaling.laws.Chinchilla`
  (the base law, same reasoning; ``A_c``, ``B_c`` are the reducible terms at the data's mean log N
  and log D *before* the repetition discount). Muennighoff et al.'s C4 values (E = 1.87,
  alpha = beta = 0.353) sit near the centre.
* ``R_D ~ LogNormal(log 15, 1.0)``: Muennighoff et al. 2023 (sec. 6, eq. 5) fit R_D* = 15.4 on
  C4; they find up to about 4 epochs nearly as good as fresh data, which needs R_D* well above 4,
  and 40+ epochs of little value, which needs R_D* well below 100. 95% prior mass (2.1, 106).
* ``R_N ~ LogNormal(log 5, 1.0)``: the published R_N* = 5.3 (same fit); excess parameters decay
  faster than repeated tokens. 95% mass (0.7, 35).
  Where the data do not repeat (all ``D <= U`` and ``N <= N_opt(U)``) the R's are not identified
  and their posteriors are these priors.

References:
    Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf, Raffel 2023, "Scaling
    Data-Constrained Language Models", NeurIPS 2023, arXiv:2305.16264, sec. 3 (eq. 5) and App. A;
    repository huggingface/datablations (README "Parametric Fit", utils/parametric_fit.ipynb).
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 2 and eq. 4.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .base import Law, factorial
from .chinchilla import Chinchilla

__all__ = ["DataConstrained", "MUENNIGHOFF_2023"]

_MAX_LOG_RATIO = 80.0  # D/U and N/U_N clipped at e^80 so that R stays finite (its gradient then 0)


def _log_effective(log_u, log_total, r_star):
    """log(U + U R* (1 - exp(-R / R*))) with R = max(total / U - 1, 0), in log space."""
    r = jnp.expm1(jnp.clip(log_total - log_u, 0.0, _MAX_LOG_RATIO))
    return log_u + jnp.log1p(-r_star * jnp.expm1(-r / r_star))


class DataConstrained(Law):
    r"""Muennighoff et al. (2023) law :math:`L(N, D, U) = E + A / N'^\alpha + B / D'^\beta`.

    See the module docstring for ``N'`` and ``D'``. Evaluated in log space with a log-sum-exp, like
    :class:`~bayes_scaling.laws.Chinchilla`; the ``min``/``max`` are ``jnp.minimum``/``jnp.maximum``
    (differentiable almost everywhere).

    Attributes:
        E, A, B: irreducible loss and the two coefficients (> 0).
        alpha, beta: exponents (> 0).
        R_D: R_D*, the decay constant of repeated tokens (> 0).
        R_N: R_N*, the decay constant of excess parameters (> 0).

    Examples:
        >>> round(float(MUENNIGHOFF_2023.loss(6.34e9, 242e9, 25e9)), 6)
        2.225644

    References:
        Muennighoff et al. 2023, arXiv:2305.16264, eq. 5; datablations README (``scaling_law``).
    """

    name = "data-constrained"
    names = ("E", "A", "B", "alpha", "beta", "R_D", "R_N")
    inputs = ("N", "D", "U")
    support = {n: "positive" for n in names}
    unconstrained_names = ("e", "a", "b", "log_alpha", "log_beta", "log_R_D", "log_R_N")
    site_of = {"A": "A_c", "B": "B_c"}

    def log_n_opt(self, logU):
        """log of the base law's compute-optimal N for ``U`` training tokens (README ``D_to_N``)."""
        log_g = (jnp.log(self.alpha) + jnp.log(self.A) - jnp.log(self.beta) - jnp.log(self.B)) / (
            self.alpha + self.beta)
        return log_g + (self.beta / self.alpha) * (logU + log_g)

    def log_loss_from_logs(self, logN, logD, logU):
        """log L from log N, log D and log U."""
        log_ud = jnp.minimum(logU, logD)
        log_dp = _log_effective(log_ud, logD, self.R_D)
        log_un = jnp.minimum(logN, self.log_n_opt(log_ud))
        log_np = _log_effective(log_un, logN, self.R_N)
        terms = jnp.stack(
            jnp.broadcast_arrays(
                jnp.log(self.A) - self.alpha * log_np,
                jnp.log(self.B) - self.beta * log_dp,
                jnp.log(self.E) * jnp.ones_like(log_np * log_dp),
            ),
            axis=0,
        )
        return jax.nn.logsumexp(terms, axis=0)

    def derived(self) -> dict:
        """Base-law allocation exponents a = beta/(alpha+beta), b = alpha/(alpha+beta), unlimited data.

        With a unique-token limit the optimum bends away from them: see
        :func:`bayes_scaling.prediction.allocate` with ``U=``.
        """
        s = self.alpha + self.beta
        return {"a": self.beta / s, "b": self.alpha / s}

    def base(self) -> Chinchilla:
        """The base Chinchilla law (E, A, B, alpha, beta): this law with unlimited unique data."""
        return Chinchilla(self.E, self.A, self.B, self.alpha, self.beta)

    # ------------------------------------------------------------------ fitting declarations

    @classmethod
    def start_grid(cls) -> np.ndarray:
        """2,187 starts: e in {-1, 0, 1}, a, b in {0, 10, 20}, alpha, beta in {0.15, 0.4, 1}, R_D in
        {3, 15, 75}, R_N in {1, 5, 25} (unconstrained coordinates).

        A coarser version of Hoffmann's grid for the base law (3^5 instead of 4,500: the screening
        steps move every start far) times a factor-5 geometric grid around the published
        R_D* = 15.4, R_N* = 5.3 (Muennighoff et al. 2023) for each decay constant. On the 182
        published runs with the base law fixed (a Constrained law keeps only these 9 starts) the
        Huber objective has several local optima along a ridge of R_D* against R_N*, within 0.2% of
        each other; 2 x 2 levels reach a worse one than these 3 x 3.
        """
        lev = [np.array([-1.0, 0.0, 1.0]), np.array([0.0, 10.0, 20.0]), np.array([0.0, 10.0, 20.0]),
               np.log([0.15, 0.4, 1.0]), np.log([0.15, 0.4, 1.0]), np.log([3.0, 15.0, 75.0]),
               np.log([1.0, 5.0, 25.0])]
        return factorial(*lev)

    @classmethod
    def start_box(cls):
        g = cls.start_grid()
        return g.min(axis=0), g.max(axis=0)

    @staticmethod
    def plausible_bounds() -> tuple[np.ndarray, np.ndarray]:
        """Chinchilla's box for the base law (exponents in (1e-3, 3)); R_D*, R_N* in (0.01, 1e4).

        R* beyond 1e4 means repetition never costs anything within any realistic number of epochs
        (the law is Chinchilla's); below 0.01 a single repeat is worth nothing.
        """
        lo = np.array([-8.0, -10.0, -10.0, math.log(1e-3), math.log(1e-3), math.log(1e-2), math.log(1e-2)])
        hi = np.array([4.0, 40.0, 40.0, math.log(3.0), math.log(3.0), math.log(1e4), math.log(1e4)])
        return lo, hi

    @classmethod
    def coarse_grid(cls) -> np.ndarray:
        """8 starts: Chinchilla's fractional factorial (exponents as logs), R_D* = 15, R_N* = 5."""
        g = Chinchilla.coarse_grid()
        r = np.tile(np.log([15.0, 5.0]), (g.shape[0], 1))
        return np.concatenate([g[:, :3], np.log(g[:, 3:5]), r], axis=1)

    @classmethod
    def jitter_scale(cls) -> np.ndarray:
        """0.05 in log E, 0.5 in log A and log B, 0.05 in log exponents, 0.2 in log R*."""
        return np.array([0.05, 0.5, 0.5, 0.05, 0.05, 0.2, 0.2])

    # ------------------------------------------------------------------ posterior declarations

    @classmethod
    def default_priors(cls) -> dict:
        """Chinchilla's priors for the base law; R_D, R_N as in the module docstring."""
        import numpyro.distributions as dist

        return {**Chinchilla.default_priors(), "R_D": dist.LogNormal(math.log(15.0), 1.0),
                "R_N": dist.LogNormal(math.log(5.0), 1.0)}

    prior_note = Chinchilla.prior_note

    @classmethod
    def from_sites(cls, values: dict, center):
        b = Chinchilla.from_sites(values, center)
        return cls(b.E, b.A, b.B, b.alpha, b.beta, values["R_D"], values["R_N"])

    def to_sites(self, center) -> dict:
        return {**self.base().to_sites(center), "R_D": self.R_D, "R_N": self.R_N}

    @classmethod
    def posterior_starts(cls, logs, logL, weights, center) -> list[dict]:
        """Chinchilla's eight starts, with R_D* = 15 and R_N* = 5 (the published values)."""
        return [{**s, "R_D": 15.0 * jnp.ones(()), "R_N": 5.0 * jnp.ones(())}
                for s in Chinchilla.posterior_starts(logs[:2], logL, weights, center)]


MUENNIGHOFF_2023 = DataConstrained(
    E=math.exp(0.6254804), A=math.exp(6.255414), B=math.exp(7.3049974), alpha=0.3526596, beta=0.3526596,
    R_D=15.387756, R_N=5.309743)
"""Muennighoff et al. 2023's C4 fit (datablations README; ../shared/TARGETS.md §4): (a, b, e, alpha =
beta) = (6.255414, 7.3049974, 0.6254804, 0.3526596) in log coordinates, R_D* = 15.387756,
R_N* = 5.309743."""
