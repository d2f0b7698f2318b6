"""Scaling-law forms as JAX pytrees.

A law is an immutable pytree of parameter leaves. Every function here is written for one parameter set
(scalar leaves); a point fit, bootstrap replicates ``(replicate,)`` and posterior draws ``(chain, draw)``
are the *same* type with leading sample dimensions, handled by :func:`evaluate` and :func:`vmap_law`.

Adding a new form means writing one class with the methods of :class:`Chinchilla` (``log_loss``,
``to_unconstrained``, ``from_unconstrained``, ``names``); callers never branch on the form.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Chinchilla", "evaluate", "sample_shape", "vmap_law", "LAWS", "HOFFMANN_2022"]


class Chinchilla(NamedTuple):
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

    E: jax.Array
    A: jax.Array
    B: jax.Array
    alpha: jax.Array
    beta: jax.Array

    name = "chinchilla"
    names = ("E", "A", "B", "alpha", "beta")
    # Unconstrained coordinates used by the optimiser, in Hoffmann's order.
    unconstrained_names = ("e", "a", "b", "alpha", "beta")

    def log_loss(self, N, D):
        """log L at (N, D) for one parameter set; N and D broadcast against each other."""
        logN = jnp.log(N)
        logD = jnp.log(D)
        return self.log_loss_from_logs(logN, logD)

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

    def loss(self, N, D):
        """L at (N, D) for one parameter set."""
        return jnp.exp(self.log_loss(N, D))

    def to_unconstrained(self) -> jax.Array:
        """The vector (e, a, b, alpha, beta) = (log E, log A, log B, alpha, beta)."""
        return jnp.stack(
            [jnp.log(self.E), jnp.log(self.A), jnp.log(self.B), self.alpha, self.beta], axis=-1
        )

    @classmethod
    def from_unconstrained(cls, x: jax.Array) -> "Chinchilla":
        """Inverse of :meth:`to_unconstrained`; ``x`` has shape (..., 5)."""
        return cls(E=jnp.exp(x[..., 0]), A=jnp.exp(x[..., 1]), B=jnp.exp(x[..., 2]),
                   alpha=x[..., 3], beta=x[..., 4])

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

    @staticmethod
    def hoffmann_grid() -> np.ndarray:
        """Hoffmann's 4,500-start grid in (e, a, b, alpha, beta), shape (4500, 5).

        alpha, beta in {0, 0.5, ..., 2}; e in {-1, -0.5, ..., 1}; a, b in {0, 5, ..., 25}
        (Hoffmann et al. 2022, App. D.2; Besiroglu et al. 2024, notebook cell 18).
        """
        alphas = np.arange(0.0, 2.01, 0.5)
        es = np.arange(-1.0, 1.01, 0.5)
        abs_ = np.arange(0.0, 25.01, 5.0)
        g = np.stack(np.meshgrid(es, abs_, abs_, alphas, alphas, indexing="ij"), axis=-1)
        return g.reshape(-1, 5)

    @staticmethod
    def plausible_bounds() -> tuple[np.ndarray, np.ndarray]:
        """A box in (e, a, b, alpha, beta) outside which a fitted law is degenerate.

        The fit itself is unconstrained; an optimum at or beyond this box (alpha or beta at 0 or
        above 3, E vanishing, coefficients beyond e^40) is reported as sitting on a bound.
        """
        lower = np.array([-8.0, -10.0, -10.0, 1e-3, 1e-3])
        upper = np.array([4.0, 40.0, 40.0, 3.0, 3.0])
        return lower, upper


HOFFMANN_2022 = Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
"""Hoffmann et al. 2022's published (rounded) Approach-3 law (../shared/TARGETS.md §3)."""

LAWS = {"chinchilla": Chinchilla}


def sample_shape(law) -> tuple[int, ...]:
    """The leading sample shape of a law pytree (``()`` for a point estimate)."""
    return tuple(jnp.shape(jax.tree_util.tree_leaves(law)[0]))


def vmap_law(fn: Callable, law, *args):
    """Apply ``fn(law_one, *args)`` over every leading sample dimension of ``law``.

    ``fn`` is written for one parameter set; the result has shape ``sample_shape(law) + out``.
    """
    shape = sample_shape(law)
    if shape == ():
        return fn(law, *args)
    flat = jax.tree_util.tree_map(lambda x: jnp.reshape(x, (-1,)), law)
    out = jax.vmap(lambda l: fn(l, *args))(flat)
    return jax.tree_util.tree_map(lambda o: jnp.reshape(o, shape + o.shape[1:]), out)


def evaluate(law, N, D, log: bool = False):
    """Loss (or log loss) of ``law`` at (N, D), for any sample shape.

    Returns an array of shape ``sample_shape(law) + broadcast(N, D).shape``.
    """
    N = jnp.asarray(N, dtype=jnp.float64)
    D = jnp.asarray(D, dtype=jnp.float64)
    out = vmap_law(lambda l: l.log_loss(N, D), law)
    return out if log else jnp.exp(out)
