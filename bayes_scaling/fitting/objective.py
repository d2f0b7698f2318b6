"""The point-fit objective: the summed (weighted) Huber loss on log-loss residuals, for any law.

Summing, not averaging: Besiroglu et al. 2024 found that averaging makes L-BFGS stop early.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["LOSSES", "huber", "objective", "residual_terms"]

LOSSES = ("huber", "squared-log", "squared-raw")


def huber(r, delta):
    """Huber loss: r^2/2 for |r| <= delta, delta (|r| - delta/2) beyond."""
    a = jnp.abs(r)
    return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def residual_terms(x, logX, logL, *, law, loss="huber", delta=1e-3):
    """Per-point objective terms at unconstrained vector ``x`` of the law spec ``law``.

    ``logX`` is (k, n): the logs of the law's inputs in its ``inputs`` order.
    """
    pred = law.log_loss_unconstrained(x, *logX)
    if loss == "huber":
        return huber(pred - logL, delta)
    if loss == "squared-log":
        return 0.5 * (pred - logL) ** 2
    if loss == "squared-raw":
        return 0.5 * (jnp.exp(pred) - jnp.exp(logL)) ** 2
    raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")


def objective(x, logX, logL, weights=None, *, law, loss="huber", delta=1e-3):
    """The summed (optionally weighted) fit objective at unconstrained vector ``x``.

    ``weights`` (default all ones) lets one compiled program fit many sub-datasets: a region mask or
    bootstrap multiplicities over a fixed-size dataset.
    """
    terms = residual_terms(x, logX, logL, law=law, loss=loss, delta=delta)
    if weights is not None:
        terms = weights * terms
    return jnp.sum(terms)
