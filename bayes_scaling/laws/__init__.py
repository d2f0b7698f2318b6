"""Scaling-law forms and the law protocol.

A law form is a :class:`~bayes_scaling.laws.base.Law` subclass: a pytree of parameter leaves with
class-level declarations (parameter names, inputs, supports, start grid, bounds, priors, optional
closed forms and fast paths). :class:`~bayes_scaling.laws.constrained.Constrained` reduces a form by
fixing or tying parameters. The engines take either (a *law spec*) and never name a parameter.

Every function here is written for one parameter set (scalar leaves); a point fit, bootstrap
replicates ``(replicate,)`` and posterior draws ``(chain, draw)`` are the *same* type with leading
sample dimensions, handled by :func:`evaluate` and :func:`vmap_law`.

The name -> form table :data:`LAWS` is for the boundary (the CLI's ``--law``, artifacts): below it,
everything takes the object.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .base import INPUTS, Law
from .chinchilla import HOFFMANN_2022, Chinchilla
from .compute_only import ComputeOnly
from .constrained import Constrained
from .data_constrained import MUENNIGHOFF_2023, DataConstrained
from .kaplan import KAPLAN_2020, Kaplan

__all__ = [
    "Law",
    "check_law_value",
    "Chinchilla",
    "ComputeOnly",
    "Constrained",
    "DataConstrained",
    "Kaplan",
    "HOFFMANN_2022",
    "KAPLAN_2020",
    "MUENNIGHOFF_2023",
    "LAWS",
    "INPUTS",
    "register",
    "resolve",
    "form_of",
    "free_names",
    "describe",
    "from_description",
    "evaluate",
    "sample_shape",
    "vmap_law",
    "inputs_for",
    "derived",
]

LAWS: dict[str, type] = {"chinchilla": Chinchilla}
LAWS["data-constrained"] = DataConstrained
LAWS["kaplan"] = Kaplan
LAWS["compute-only"] = ComputeOnly


def register(law_cls: type) -> type:
    """Add a law form to :data:`LAWS` under its ``name`` (usable as a decorator)."""
    if not (isinstance(law_cls, type) and issubclass(law_cls, Law) and law_cls.name):
        raise TypeError(f"register takes a named Law subclass; got {law_cls!r}")
    LAWS[law_cls.name] = law_cls
    return law_cls


def resolve(law):
    """A law spec from a name, a :class:`Law` subclass, a law value or a :class:`Constrained`."""
    if isinstance(law, str):
        if law not in LAWS:
            raise ValueError(f"unknown law {law!r}; expected one of {sorted(LAWS)}")
        return LAWS[law]
    if isinstance(law, Constrained):
        return law
    if isinstance(law, type) and issubclass(law, Law):
        if not law.names:
            raise TypeError(f"{law.__name__} declares no parameters")
        return law
    if isinstance(law, Law):
        return type(law)
    raise TypeError(f"a law must be a name, a Law subclass or a Constrained law; got {law!r}")


def form_of(spec) -> type:
    """The law form (class) behind a spec."""
    spec = resolve(spec)
    return spec.form if isinstance(spec, Constrained) else spec


def free_names(spec) -> tuple[str, ...]:
    """The parameters a fit estimates (all of them unless some are fixed or tied)."""
    spec = resolve(spec)
    return spec.free if isinstance(spec, Constrained) else spec.names


def describe(spec) -> dict:
    """A JSON-serialisable description ``{"law", "fixed", "tied"}`` (artifacts record it)."""
    spec = resolve(spec)
    if isinstance(spec, Constrained):
        return spec.describe()
    return {"law": spec.name, "fixed": {}, "tied": {}}


def from_description(desc) -> object:
    """Inverse of :func:`describe` (``desc`` may be a law name)."""
    if isinstance(desc, str):
        desc = {"law": desc}
    form = resolve(desc.get("law", "chinchilla"))
    fixed, tied = desc.get("fixed") or {}, desc.get("tied") or {}
    return Constrained(form, fixed, tied) if (fixed or tied) else form


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


def check_law_value(law, name: str = "law"):
    """``law`` if it is a law value (a :class:`Law` instance such as a fit's ``.law``); a fit result,
    a name or anything else raises ``TypeError`` saying what to pass instead."""
    if isinstance(law, Law):
        traced = any(isinstance(v, jax.core.Tracer) for v in law)
        if not traced and sample_shape(law) == ():  # one law: a NaN parameter would make every output NaN
            bad = [n for n, v in zip(type(law).names, law) if not np.all(np.isfinite(np.asarray(v, dtype=np.float64)))]
            if bad:
                raise ValueError(f"{name} has non-finite parameters: {', '.join(f'{n}={getattr(law, n)}' for n in bad)}")
        return law
    hint = f"; pass its .{name}" if isinstance(getattr(law, "law", None), Law) else ""
    if isinstance(law, str):
        hint = " (a name is a spec, not a value: give the parameters, e.g. bs.Chinchilla(E=..., ...))"
    raise TypeError(f"{name} must be a law value such as bs.HOFFMANN_2022 or a fit's .law; got "
                    f"{type(law).__name__}{hint}")


def inputs_for(spec, *, N=None, D=None, C=None, U=None, flops_per_param_token: float = 6.0):
    """The law's inputs (in ``spec.inputs`` order) from whichever of N, D, C, U were given.

    C is derived as ``k N D`` and D as ``C / (k N)`` when the law needs one the caller did not give.
    Arrays broadcast against each other.

    Raises:
        ValueError: naming the law and the missing input.
    """
    spec = resolve(spec)
    k = float(flops_per_param_token)
    have = {n: v for n, v in (("N", N), ("D", D), ("C", C), ("U", U)) if v is not None}
    if "C" not in have and "N" in have and "D" in have:
        have["C"] = k * np.asarray(have["N"], dtype=np.float64) * np.asarray(have["D"], dtype=np.float64)
    if "D" not in have and "N" in have and "C" in have:
        have["D"] = np.asarray(have["C"], dtype=np.float64) / (k * np.asarray(have["N"], dtype=np.float64))
    missing = [n for n in spec.inputs if n not in have]
    if missing:
        raise ValueError(f"law {spec.name!r} needs inputs {spec.inputs}; missing {missing}")
    return tuple(have[n] for n in spec.inputs)


def evaluate(law, *inputs, log: bool = False, **named):
    """Loss (or log loss) of ``law`` at its inputs, for any sample shape.

    Inputs are given positionally in the law's ``inputs`` order, or by name (``N=``, ``D=``, ``C=``,
    ``U=``). Returns an array of shape ``sample_shape(law) + broadcast(inputs).shape``.
    """
    if named:
        inputs = inputs_for(type(law), **named)
    xs = [jnp.asarray(x, dtype=jnp.float64) for x in inputs]
    out = vmap_law(lambda l: l.log_loss(*xs), law)
    return out if log else jnp.exp(out)


def derived(law) -> dict:
    """The law's derived quantities (e.g. Chinchilla's a, b) at any sample shape, as numpy arrays."""
    if type(law).derived is Law.derived:
        return {}
    return {k: np.asarray(v) for k, v in vmap_law(lambda l: l.derived(), law).items()}
