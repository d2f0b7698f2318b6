"""Checks of arguments where they enter the API: PRNG keys, datasets, counts, the FLOPs factor k."""

from __future__ import annotations

import math

import jax
import numpy as np

__all__ = ["check_key", "check_dataset", "check_int", "check_k"]


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


def check_dataset(data, name: str = "data"):
    """``data`` if it is a :class:`Dataset`; anything else raises ``TypeError`` naming it and saying
    how to make one (an array or a table has no validated N, D and loss)."""
    from .data import Dataset

    if not isinstance(data, Dataset):
        raise TypeError(f"{name} must be a bayes_scaling Dataset (bs.from_arrays(N, D, loss), bs.from_csv(path), "
                        f"bs.from_dataframe(df)); got {type(data).__name__}")
    return data


def check_k(k, name: str = "flops_per_param_token") -> float:
    """k in C = k N D as a float, if it is a finite number > 0; else ``ValueError`` naming it."""
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)) or not (math.isfinite(k) and k > 0):
        raise ValueError(f"{name} must be a finite number > 0 (k in C = k N D); got {k!r}")
    return float(k)


def check_int(name: str, v, lo: int) -> int:
    """``v`` as an ``int`` if it is an integer (not a bool) >= ``lo``; else ``ValueError`` naming it."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}; got {v!r}")
    return int(v)
