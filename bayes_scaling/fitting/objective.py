"""The point-fit objective: the summed (weighted) Huber loss on log-loss residuals, for any law.

Summing, not averaging: Besiroglu et al. 2024 found that averaging makes L-BFGS stop early.

:func:`chunked_objective` is the same sum taken over fixed-size chunks of points, with its gradient
accumulated chunk by chunk, so that a fit of many starts on many points holds temporaries for one
chunk per start instead of one per point.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

__all__ = ["LOSSES", "POINT_CHUNK", "chunked_objective", "huber", "objective", "residual_terms"]

LOSSES = ("huber", "squared-log", "squared-raw")

# Points per chunk of :func:`chunked_objective`. A start evaluating one chunk holds about ten
# float64 temporaries per point (value, residual, Huber branch, the reverse pass): about 0.3 MB per
# start at 4,096 points, and a loop step per chunk costs microseconds next to the chunk's arithmetic.
POINT_CHUNK = 4096


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


def chunked_objective(x, logX, logL, weights=None, *, law, loss="huber", delta=1e-3, chunk=POINT_CHUNK):
    """:func:`objective` summed over chunks of ``chunk`` points, in memory bounded by the chunk.

    With at most ``chunk`` points this *is* :func:`objective` (the same program, the same numbers).
    Beyond, a ``fori_loop`` adds the chunks' partial sums (``lax.dynamic_slice`` views, so a
    ``vmap`` over weights or starts copies no data), and the derivative is a custom JVP whose
    gradient is accumulated in the same loop: reverse-mode autodiff through the loop would keep every
    chunk's intermediates, i.e. memory proportional to the points again. Only ``x`` is
    differentiated; the data are constants (as in every fit). Summation order differs from one sum
    by rounding only (about 1e-16 relative per chunk).

    Args:
        x: (p,) unconstrained vector of the law spec ``law``.
        logX: (k, n) logs of the law's inputs; logL: (n,) log loss; weights: optional (n,) weights.
        law, loss, delta: as :func:`objective`.
        chunk: points per chunk (static).

    Examples:
        >>> import jax.numpy as jnp, bayes_scaling as bs
        >>> data = bs.example_data()
        >>> logX, logL = data.log_inputs(bs.Chinchilla), jnp.log(data.loss)
        >>> x = bs.HOFFMANN_2022.to_unconstrained()
        >>> one = objective(x, logX, logL, law=bs.Chinchilla)
        >>> bool(jnp.allclose(chunked_objective(x, logX, logL, law=bs.Chinchilla, chunk=7), one))
        True
    """
    n = logL.shape[-1]
    if n <= chunk:
        return objective(x, logX, logL, weights, law=law, loss=loss, delta=delta)
    w = jnp.ones_like(logL) if weights is None else weights
    return _summed_in_chunks(x, logX, logL, w, delta, law, loss, chunk)


def _chunk_total(x, logX, logL, w, delta, law, loss, chunk, with_grad):
    """Sum over chunks of the objective (and of its gradient in ``x`` when ``with_grad``)."""
    n_full, tail = divmod(logL.shape[-1], chunk)

    def part(x, lo, size):
        take = lambda a: lax.dynamic_slice_in_dim(a, lo, size, axis=-1)  # noqa: E731
        return objective(x, take(logX), take(logL), take(w), law=law, loss=loss, delta=delta)

    def evaluate(lo, size):
        if with_grad:
            return jax.value_and_grad(lambda x: part(x, lo, size))(x)
        return part(x, lo, size)

    zero = jnp.zeros((), dtype=jnp.result_type(x, logL))
    init = (zero, jnp.zeros(jnp.shape(x), zero.dtype)) if with_grad else zero
    add = lambda acc, v: jax.tree_util.tree_map(jnp.add, acc, v)  # noqa: E731
    acc = lax.fori_loop(0, n_full, lambda i, acc: add(acc, evaluate(i * chunk, chunk)), init)
    return add(acc, evaluate(n_full * chunk, tail)) if tail else acc


@partial(jax.custom_jvp, nondiff_argnums=(5, 6, 7))
def _summed_in_chunks(x, logX, logL, w, delta, law, loss, chunk):
    return _chunk_total(x, logX, logL, w, delta, law, loss, chunk, with_grad=False)


def _summed_in_chunks_jvp(law, loss, chunk, primals, tangents):
    x, logX, logL, w, delta = primals
    tx, *t_data = tangents  # data and delta: constants in a fit
    if any(type(t) is not SymbolicZero for t in t_data):
        # Derivatives in the data (never needed by a fit): forward mode through the loop.
        tangents = [jnp.zeros_like(p) if type(t) is SymbolicZero else t for p, t in zip(primals, tangents)]
        return jax.jvp(lambda *a: _chunk_total(*a, law, loss, chunk, with_grad=False), primals,
                       tuple(tangents))
    value, grad = _chunk_total(x, logX, logL, w, delta, law, loss, chunk, with_grad=True)
    if type(tx) is SymbolicZero:
        return value, jnp.zeros_like(value)
    return value, jnp.dot(grad, tx)


_summed_in_chunks.defjvp(_summed_in_chunks_jvp, symbolic_zeros=True)
