"""Checks of JAX PRNG keys at the API's boundary."""

from __future__ import annotations

import jax
import numpy as np

__all__ = ["check_key"]


def check_key(key, name: str = "key"):
    """``key`` if it is a JAX PRNG key (``jax.random.key(seed)``, or a legacy ``PRNGKey``: uint32 of
    shape (2,)); anything else raises ``TypeError`` naming it, before any work is done (JAX's own
    error comes from deep inside, after a fit has run).

    Examples:
        >>> check_key(0)
        Traceback (most recent call last):
        ...
        TypeError: key must be a JAX PRNG key, e.g. jax.random.key(0); got the int 0
    """
    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    if dtype is not None and (jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
                              or (dtype == np.uint32 and tuple(shape) == (2,))):
        return key
    what = f"an array of dtype {dtype} and shape {tuple(shape)}" if dtype is not None else \
        f"the {type(key).__name__} {key!r}"
    raise TypeError(f"{name} must be a JAX PRNG key, e.g. jax.random.key(0); got {what}")
