"""Summaries of parameter sample sets: one function for point fits, posteriors and bootstrap.

A law pytree with leaves of shape ``()`` is a point estimate; any leading shape is a sample set
(``(chain, draw)`` for posteriors, ``(replicate,)`` for bootstrap). The functions read the law's
parameter names and derived quantities from the law protocol (:mod:`bayes_scaling.laws`); they
never name a parameter.

Given the law *spec* a fit was made with (a :class:`~bayes_scaling.laws.Constrained` law), a fixed
parameter is reported as ``{"estimate": value, "fixed": True}``: a value that was set, not an
estimate with an interval of zero width. A tied parameter carries its summary (the same draws as the
parameter it follows) and ``"tied_to": leader``.
"""

from __future__ import annotations

import numpy as np

from . import laws
from .data import DEFAULT_LEVEL
from .laws import sample_shape

__all__ = ["interval", "summarize_array", "summarize_law", "constraints_of", "derived"]


def interval(samples, level: float):
    """Central ``level`` interval of flattened samples: (lower, upper)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    q = np.quantile(x, [(1 - level) / 2, (1 + level) / 2])
    return float(q[0]), float(q[1])


def summarize_array(samples, level: float, point: bool = False) -> dict:
    """``{"estimate": median, "lower", "upper", "sd"}``; a point value gives only ``estimate``.

    Sample dimensions are all leading dimensions; samples here are flattened, so pass one quantity.
    """
    x = np.asarray(samples, dtype=np.float64)
    if point or x.ndim == 0:
        return {"estimate": float(x)}
    lo, hi = interval(x, level)
    return {"estimate": float(np.median(x)), "lower": lo, "upper": hi, "sd": float(np.std(x, ddof=1))}


def derived(law) -> dict:
    """The law's derived quantities (its ``derived()``, e.g. Chinchilla's allocation exponents a, b)
    at any sample shape, as numpy arrays: :func:`bayes_scaling.laws.derived`."""
    return laws.derived(law)


def constraints_of(spec) -> tuple[dict, dict]:
    """``(fixed, tied)`` of a law spec: name -> value and follower -> leader (empty for a free law)."""
    if spec is None:
        return {}, {}
    spec = laws.resolve(spec)
    if isinstance(spec, laws.Constrained):
        return dict(spec.fixed), dict(spec.tied)
    return {}, {}


def summarize_law(law, level: float = DEFAULT_LEVEL, include_derived: bool = False, spec=None) -> dict:
    """Per-parameter summaries of a law pytree at any sample shape (and its derived quantities).

    Args:
        law: a law value (leaves of shape ``()`` for a point fit, or any sample shape).
        level: the central interval's level.
        include_derived: add the law's derived quantities.
        spec: the law spec the fit was made with; fixed parameters of a
            :class:`~bayes_scaling.laws.Constrained` spec become ``{"estimate": v, "fixed": True}``
            and tied ones gain ``"tied_to": leader``.

    Examples:
        >>> from bayes_scaling.laws import Chinchilla, Constrained
        >>> law = Chinchilla(E=1.8, A=400.0, B=410.0, alpha=0.3, beta=0.3)
        >>> spec = Constrained(Chinchilla, fixed={"E": 1.8}, tied={"beta": "alpha"})
        >>> out = summarize_law(law, spec=spec)
        >>> out["E"], out["beta"]
        ({'estimate': 1.8, 'fixed': True}, {'estimate': 0.3, 'tied_to': 'alpha'})
    """
    from .laws import check_law_value

    check_law_value(law)
    point = sample_shape(law) == ()
    fixed, tied = constraints_of(spec)
    out = {}
    for name in type(law).names:
        if name in fixed:
            out[name] = {"estimate": float(fixed[name]), "fixed": True}
            continue
        out[name] = summarize_array(getattr(law, name), level, point)
        if name in tied:
            out[name]["tied_to"] = tied[name]
    if include_derived:
        for k, v in derived(law).items():
            out[k] = summarize_array(v, level, point)
    return out
