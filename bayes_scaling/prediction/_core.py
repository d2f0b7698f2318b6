"""Shared machinery: host-side validation, mapping over sample dimensions, and the law's inputs.

Every per-sample function in this package is written for ONE parameter set and mapped over all
leading sample dimensions with :func:`_mapped` (or :func:`_mapped_joint` when a per-sample quantity
travels alongside). Allocation needs a law that reads N and D; other inputs it reads (unique
tokens U, or the compute C itself) are *extra* inputs, fixed along the isoFLOP line and passed to
:func:`_log_loss_along` as logs.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..laws import sample_shape, vmap_law

DEFAULT_K = 6.0
HOOKS = ("closed_allocation", "closed_compute_for_target", "closed_exponents")


# ------------------------------------------------------------------------------ host validation


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _positive(name: str, x, *, allow_inf: bool = False):
    """``x`` as a float64 array, checked (on the host) to be positive and finite."""
    if _is_traced(x):
        return x
    arr = np.asarray(x, dtype=np.float64)
    ok = (arr > 0) & (np.isfinite(arr) | allow_inf)
    if not np.all(ok):
        bad = np.flatnonzero(~ok.reshape(-1))
        raise ValueError(
            f"{name} must be positive and finite; got {bad.size} bad value(s) of {arr.size}, first at "
            f"flat index {bad[0]} (value {arr.reshape(-1)[bad[0]]!r})"
        )
    return jnp.asarray(arr)


def _per_sample(name: str, x, law):
    """A per-sample quantity (sigma, nu): a scalar or an array of ``sample_shape(law)``."""
    if x is None:
        return None
    arr = np.asarray(x, dtype=np.float64)
    shape = sample_shape(law)
    if arr.shape not in ((), shape):
        raise ValueError(f"{name} must be a scalar or have the law's sample shape {shape}; got {arr.shape}")
    if not np.all((arr > 0) & np.isfinite(arr)):
        raise ValueError(f"{name} must be positive and finite; got min {arr.min()!r}")
    return np.broadcast_to(arr, shape)


def _check_level(level):
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    return float(level)


# ------------------------------------------------------------------------------ the law's inputs


def _law_label(law) -> str:
    cls = type(law)
    return f"{getattr(cls, 'name', '') or cls.__name__!r}"


def _hook(law, name: str):
    """The law's optional closed-form hook ``name`` (None when the law has none)."""
    return getattr(type(law), name, None)


def _require_ND(law, what: str) -> tuple[str, ...]:
    """The law's inputs, checked to include N and D (else a ValueError naming the law)."""
    from ..laws import check_law_value

    inputs = tuple(type(check_law_value(law)).inputs)
    if "N" not in inputs or "D" not in inputs:
        raise ValueError(
            f"{what} needs a law whose inputs include N and D (it trades parameters against tokens "
            f"at fixed compute); law {_law_label(law)} has inputs {inputs}"
        )
    return inputs


def _isoflop_extras(law, U=None, *, what: str = "allocation") -> dict:
    """Validate that ``law`` reads N and D; return its other fixed inputs (name -> positive array).

    Raises:
        ValueError: naming the law and its inputs when it cannot be allocated along ``C = k N D``,
            when it reads U and none was given, or when U was given to a law that does not read it.
    """
    inputs = _require_ND(law, what)
    extras = {}
    if "U" in inputs:
        if U is None:
            raise ValueError(f"law {_law_label(law)} reads unique tokens U (inputs {inputs}): give U= "
                             f"(the unique-token budget) for {what}")
        extras["U"] = _positive("U", U)
    elif U is not None:
        raise ValueError(f"U (unique tokens) was given but law {_law_label(law)} does not read it; "
                         f"its inputs are {inputs}")
    return extras


def _broadcast_query(x, extras: dict):
    """Broadcast a query array (budgets or targets) with the extra inputs; returns both."""
    if not extras:
        return x, extras
    shape = np.broadcast_shapes(jnp.shape(x), *(jnp.shape(v) for v in extras.values()))
    return jnp.broadcast_to(x, shape), {n: jnp.broadcast_to(v, shape) for n, v in extras.items()}


def _log_loss_along(law, logN, logD, extra_logs):
    """log L of ONE parameter set at log N, log D and the law's other inputs' logs.

    ``extra_logs`` maps each further input the law reads (``"U"``, ``"C"``) to its log; a law with
    inputs exactly (N, D) ignores it.
    """
    inputs = type(law).inputs
    if inputs == ("N", "D"):
        return law.log_loss_from_logs(logN, logD)
    have = {"N": logN, "D": logD, **extra_logs}
    return law.log_loss_from_logs(*(have[n] for n in inputs))


def _extra_logs(law, C, extras: dict) -> dict:
    """Logs of the fixed inputs at budget ``C``: the extras, and log C when the law reads C."""
    out = {n: jnp.log(v) for n, v in extras.items()}
    if "C" in type(law).inputs:
        out["C"] = jnp.log(C)
    return out


def _log_loss_inputs(law, *inputs):
    """log L of ONE parameter set at its inputs (module level: a stable jit cache key)."""
    return law.log_loss_from_logs(*(jnp.log(x) for x in inputs))


# ------------------------------------------------------------------------------ mapping


_mapped = jax.jit(vmap_law, static_argnums=0)
"""``fn(law_one, *args)`` over all sample dims of ``law`` (args shared): :func:`laws.vmap_law`, jitted."""


@partial(jax.jit, static_argnums=0)
def _mapped_joint(fn, law, per_sample, *args):
    """Like :func:`_mapped`, with ``per_sample`` (leading dims = sample shape) mapped alongside."""
    shape = sample_shape(law)
    if shape == ():
        return fn(law, per_sample, *args)
    flat = jax.tree_util.tree_map(lambda x: jnp.reshape(x, (-1,) + x.shape[len(shape):]),
                                  (law, per_sample))
    out = jax.vmap(lambda l, p: fn(l, p, *args))(*flat)
    return jax.tree_util.tree_map(lambda o: jnp.reshape(o, shape + o.shape[1:]), out)
