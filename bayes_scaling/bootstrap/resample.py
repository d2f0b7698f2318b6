"""One bootstrap resample of a fixed-size dataset, as weights and perturbed log losses (traceable).

A resample keeps the dataset's size n, so that jit and vmap see one shape for every replicate,
chunk and fit region: it is expressed as per-row multiplicity weights and, for the residual scheme,
perturbed log losses.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["SCHEMES", "resample"]

SCHEMES = ("rows", "models", "residual")


def _draw_from(key, prob_mass, n_draws):
    """``n_draws`` indices drawn with replacement with probability proportional to ``prob_mass``
    (inverse-CDF: one uniform and one search per draw), and the mass total."""
    cdf = jnp.cumsum(prob_mass)
    total = cdf[-1]
    u = jax.random.uniform(key, (n_draws,), dtype=cdf.dtype) * total
    idx = jnp.searchsorted(cdf, u, side="right")
    return jnp.clip(idx, 0, prob_mass.shape[0] - 1), total


def _counts(idx, n_take, size):
    """Multiplicities of the first ``n_take`` entries of ``idx`` (traced ``n_take``)."""
    take = (jnp.arange(idx.shape[0]) < n_take).astype(jnp.float64)
    return jnp.zeros(size, dtype=jnp.float64).at[idx].add(take)


def resample(key, logX, logL, mask, *, law, scheme="rows", groups=None, center=None):
    """One bootstrap resample of the masked rows, as (weights, logL*), traceable.

    Args:
        key: PRNG key of this replicate.
        logX: (k, n) logs of the law's inputs (``data.log_inputs(law)``); read by "residual" only.
        logL: (n,) log loss.
        mask: (n,) 0/1 floats: the rows that form the dataset (the fit region). Must be exactly 0 or 1.
        law: the law spec (a Law subclass or a Constrained one); the residual scheme predicts with it.
        scheme: "rows": draw m = sum(mask) rows with replacement among the masked rows (n draws are
            made with probabilities proportional to the mask and only the first m are counted);
            "models": draw as many model sizes as the mask contains, with replacement among them, and
            weigh every masked row of a size by how often the size was drawn; "residual": weights =
            mask and logL* = pred + r[j], j drawn uniformly among masked rows, where pred and r are
            the predictions and residuals of the law at ``center``.
        groups: (n,) int model-size ids in [0, n) (see :func:`model_groups`); needed by "models".
        center: (p,) unconstrained optimum of the masked data; needed by "residual".

    Returns:
        (weights (n,), logL* (n,)).

    Examples:
        >>> import jax, jax.numpy as jnp, bayes_scaling as bs
        >>> data = bs.example_data()
        >>> w, y = resample(jax.random.key(0), data.log_inputs(bs.Chinchilla), jnp.log(data.loss),
        ...                 jnp.ones(data.n), law=bs.Chinchilla)
        >>> int(w.sum()) == data.n
        True

    References:
        Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 9 (residual bootstrap);
        Cameron, Gelbach & Miller 2008 (cluster bootstrap).
    """
    n = logL.shape[0]
    mask = jnp.asarray(mask, dtype=jnp.float64)
    if scheme == "rows":
        idx, m = _draw_from(key, mask, n)
        return _counts(idx, m, n), logL
    if scheme == "models":
        if groups is None:
            raise ValueError("scheme 'models' needs groups (see model_groups)")
        present = jax.ops.segment_max(mask, groups, num_segments=n) > 0
        gidx, g = _draw_from(key, present.astype(jnp.float64), n)
        return mask * _counts(gidx, g, n)[groups], logL
    if scheme == "residual":
        if center is None:
            raise ValueError("scheme 'residual' needs center (the masked data's optimum)")
        pred = law.log_loss_unconstrained(center, *logX)
        idx, _ = _draw_from(key, mask, n)
        return mask, pred + (logL - pred)[idx]
    raise ValueError(f"unknown scheme {scheme!r}; expected one of {SCHEMES}")
