"""Parameter constraints: a law with some parameters fixed to values, or tied to others.

:class:`Constrained` presents the same class-level protocol as a law form, over the *free*
parameters only, so every engine (point fit, bootstrap, posterior, sweeps) accepts it unchanged:
its unconstrained vector holds the free coordinates, and :meth:`Constrained.from_unconstrained`
returns the full law (fixed values broadcast to the sample shape, tied parameters copied).

Examples:
    >>> from bayes_scaling.laws import Chinchilla
    >>> spec = Constrained(Chinchilla, fixed={"E": 1.69}, tied={"beta": "alpha"})
    >>> spec.free
    ('A', 'B', 'alpha')
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["Constrained"]


def _check_fixed_in_bounds(form, fixed) -> None:
    """Refuse a fixed value outside the form's plausible box: the fit would be degenerate by
    construction (an exponent of 0 makes a term a constant that E cannot be told apart from)."""
    positive = dict(zip(form.names, form.positive_mask()))
    for k, v in fixed.items():
        out = form.outside_plausible(k, np.log(v) if positive[k] else v)
        if out is not None:
            raise ValueError(f"fixed {k} = {v:g} lies outside the {form.name} law's plausible range "
                             f"[{out[0]:.6g}, {out[1]:.6g}], where a fit is degenerate")


class Constrained:
    """A law form with ``fixed`` parameters (name -> value) and ``tied`` ones (follower -> leader)."""

    def __init__(self, form, fixed=None, tied=None):
        from .base import Law

        if isinstance(form, Constrained):
            fixed = {**form.fixed, **(fixed or {})}
            tied = {**form.tied, **(tied or {})}
            form = form.form
        if not (isinstance(form, type) and issubclass(form, Law)):
            raise TypeError(f"form must be a Law subclass; got {form!r}")
        fixed = {str(k): float(v) for k, v in (fixed or {}).items()}
        tied = {str(k): str(v) for k, v in (tied or {}).items()}
        names = form.names
        for k in list(fixed) + list(tied) + list(tied.values()):
            if k not in names:
                raise ValueError(f"law {form.name!r} has no parameter {k!r}; parameters are {names}")
        for k, v in fixed.items():
            if not np.isfinite(v):
                raise ValueError(f"fixed {k} must be finite; got {v}")
            if form.support.get(k) == "positive" and not v > 0:
                raise ValueError(f"fixed {k} must be > 0 (its support is positive); got {v}")
        _check_fixed_in_bounds(form, fixed)
        for f, leader in tied.items():
            if f in fixed or leader in fixed or leader in tied or f == leader:
                raise ValueError(f"cannot tie {f}={leader}: a tie joins two free parameters")
            if form.support.get(f, "real") != form.support.get(leader, "real"):
                raise ValueError(f"cannot tie {f}={leader}: their supports differ")
        self.form = form
        self.fixed = dict(sorted(fixed.items()))
        self.tied = dict(sorted(tied.items()))
        self.free = tuple(n for n in names if n not in fixed and n not in tied)
        if not self.free:
            raise ValueError(f"every parameter of {form.name!r} is fixed or tied; nothing to fit")
        self._free_idx = np.array([names.index(n) for n in self.free])
        self.name = form.name
        self.names = names
        self.inputs = form.inputs
        self.support = form.support
        self.unconstrained_names = tuple(form.unconstrained_names[i] for i in self._free_idx)
        self.closed_allocation = form.closed_allocation
        self.closed_compute_for_target = form.closed_compute_for_target
        self.closed_exponents = form.closed_exponents
        self.nuts_fast_path = None  # fast paths assume the free form
        self.site_of = form.site_of

    # ------------------------------------------------------------------ identity

    def _key(self):
        return (self.form, tuple(self.fixed.items()), tuple(self.tied.items()))

    def __hash__(self):
        return hash(self._key())

    def __eq__(self, other):
        return isinstance(other, Constrained) and self._key() == other._key()

    def __repr__(self):
        parts = [f"{k}={v:g}" for k, v in self.fixed.items()] + [f"{k}={v}" for k, v in self.tied.items()]
        return f"Constrained({self.form.__name__}, {', '.join(parts)})"

    def describe(self) -> dict:
        return {"law": self.name, "fixed": dict(self.fixed), "tied": dict(self.tied)}

    # ------------------------------------------------------------------ coordinates

    def _expand(self, x):
        """Free unconstrained vector(s) (..., p_free) -> the form's full vector (..., p)."""
        x = jnp.asarray(x)
        names = self.names
        pos = self.form.positive_mask()
        cols = [None] * len(names)
        for j, i in enumerate(self._free_idx):
            cols[i] = x[..., j]
        for k, v in self.fixed.items():
            i = names.index(k)
            cols[i] = jnp.full(x.shape[:-1], float(np.log(v)) if pos[i] else v, dtype=x.dtype)
        for f, leader in self.tied.items():
            cols[names.index(f)] = cols[names.index(leader)]
        return jnp.stack(cols, axis=-1)

    def _project(self, x):
        return np.asarray(x)[..., self._free_idx]

    def positive_mask(self):
        return self.form.positive_mask()[self._free_idx]

    def from_unconstrained(self, x):
        """The full law; fixed parameters hold exactly their values (not exp(log(value)))."""
        x = jnp.asarray(x)
        law = self.form.from_unconstrained(self._expand(x))
        exact = {k: jnp.full(x.shape[:-1], v, dtype=x.dtype) for k, v in self.fixed.items()}
        return law._replace(**exact) if exact else law

    def to_unconstrained_of(self, law):
        """The free coordinates of a full law value."""
        return jnp.asarray(law.to_unconstrained())[..., self._free_idx]

    def log_loss_unconstrained(self, x, *logs):
        return self.form.log_loss_unconstrained(self._expand(x), *logs)

    # ------------------------------------------------------------------ fitting declarations

    def start_grid(self):
        return np.unique(self._project(self.form.start_grid()), axis=0)

    def start_box(self):
        lo, hi = self.form.start_box()
        return self._project(lo), self._project(hi)

    def plausible_bounds(self):
        lo, hi = self.form.plausible_bounds()
        return self._project(lo), self._project(hi)

    def coarse_grid(self):
        return np.unique(self._project(self.form.coarse_grid()), axis=0)

    def jitter_scale(self):
        return self._project(self.form.jitter_scale())

    # ------------------------------------------------------------------ posterior declarations

    def default_priors(self):
        sites = set(self.sites())
        return {k: v for k, v in self.form.default_priors().items() if k in sites}

    def sites(self):
        drop = set(self.fixed) | set(self.tied)
        return tuple(self.site_of.get(n, n) for n in self.names if n not in drop)

    def _fill(self, values: dict) -> dict:
        full = dict(values)
        for k, v in self.fixed.items():
            full[k] = jnp.asarray(v, dtype=jnp.float64)
        for f, leader in self.tied.items():
            if self.site_of.get(leader, leader) != leader or self.site_of.get(f, f) != f:
                raise ValueError(f"a posterior cannot tie {f}={leader}: {leader} or {f} is sampled "
                                 "through another site")
            full[f] = full[leader]
        return full

    def from_sites(self, values: dict, center):
        return self.form.from_sites(self._fill(values), center)

    def posterior_starts(self, logs, logL, weights, center):
        keep = set(self.sites())
        return [{k: v for k, v in s.items() if k in keep}
                for s in self.form.posterior_starts(logs, logL, weights, center)]
