"""The law protocol: a law form is a pytree of parameter leaves plus class-level declarations.

A concrete law is a subclass of :class:`Law` with a math docstring, its parameter names, the data
inputs it reads, each parameter's support, and one method written for ONE parameter set:
``log_loss_from_logs(*log_inputs)`` (or ``loss(*inputs)``). Everything else has a generic default
that works through autodiff and numerical fallbacks:

Required
    ``name``, ``names`` (parameters), ``inputs`` (data columns: ``"N"``, ``"D"``, ``"U"``, ``"C"``),
    ``support`` (``"positive"`` parameters are fitted as logs, others as they are),
    ``log_loss_from_logs`` or ``loss``, ``start_box`` (or ``start_grid``), ``plausible_bounds``, and
    ``default_priors`` for a posterior.

Optional (generic default in brackets)
    ``start_grid`` [a factorial grid over ``start_box``], ``coarse_grid`` [an 8-point Latin
    hypercube in ``start_box``], ``jitter_scale`` [0.05], ``derived`` [none], ``sites`` /
    ``site_of`` / ``from_sites`` / ``to_sites`` [the parameters themselves], ``posterior_starts``
    [points of ``coarse_grid``], the closed forms ``closed_allocation``,
    ``closed_compute_for_target`` and ``closed_exponents`` [numerical argmin and bisection], and the
    fast paths ``log_loss_unconstrained`` and ``nuts_fast_path`` [autodiff].

A law *value* is an instance: leaves of shape ``()`` for a point fit, ``(replicate,)`` for bootstrap
replicates, ``(chain, draw)`` for posterior draws. The engines never look inside: they take the law
*class* (or a :class:`~bayes_scaling.laws.constrained.Constrained` reduction of one) and use only
the declarations above.

The pattern follows tinygp's kernels: the base class holds the machinery, a concrete law is a
docstring, its parameters and ``log_loss`` for one parameter set.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Law", "SUPPORTS", "INPUTS"]

SUPPORTS = ("positive", "real")
INPUTS = ("N", "D", "U", "C")


def _unflatten(cls, leaves):
    obj = object.__new__(cls)
    for name, leaf in zip(cls.names, leaves):
        object.__setattr__(obj, name, leaf)
    return obj



def factorial(*levels) -> np.ndarray:
    """Every combination of the given levels, one row per start (S, len(levels)), the last axis
    varying fastest: the full-factorial start grids of the laws."""
    return np.stack(np.meshgrid(*levels, indexing="ij"), axis=-1).reshape(-1, len(levels))

class Law:
    """Base class of law forms; subclasses are registered as JAX pytrees (leaves = ``names``).

    Instances behave like named tuples of their parameters: positional or keyword construction,
    iteration in ``names`` order, ``_replace``, ``_asdict`` and ``_fields``. Constructors hold no
    logic (JAX rebuilds them with tracers).

    Examples:
        >>> import jax.numpy as jnp
        >>> class PowerLaw(Law):
        ...     '''L(C) = E + A C^-alpha'''
        ...     name = "power"
        ...     names = ("E", "A", "alpha")
        ...     inputs = ("C",)
        ...     support = {"E": "positive", "A": "positive", "alpha": "positive"}
        ...     def loss(self, C):
        ...         return self.E + self.A * C ** -self.alpha
        >>> round(float(PowerLaw(1.7, 20.0, 0.05).loss(1e20)), 4)
        2.8302
    """

    name: ClassVar[str] = ""
    names: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    support: ClassVar[dict] = {}
    # Optional hooks, None when absent (checked with ``getattr(law_cls, hook) is not None``).
    closed_allocation: ClassVar = None
    closed_compute_for_target: ClassVar = None
    closed_exponents: ClassVar = None
    nuts_fast_path: ClassVar = None
    site_of: ClassVar[dict] = {}
    unconstrained_names: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ pytree and tuple behaviour

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.names:
            return
        bad = [n for n in cls.inputs if n not in INPUTS]
        if bad:
            raise TypeError(f"{cls.__name__}.inputs: unknown input(s) {bad}; expected some of {INPUTS}")
        sup = {n: cls.support.get(n, "real") for n in cls.names}
        bad = {n: s for n, s in sup.items() if s not in SUPPORTS}
        if bad:
            raise TypeError(f"{cls.__name__}.support: {bad}; each support must be one of {SUPPORTS}")
        own_logs = cls.log_loss_from_logs is not Law.log_loss_from_logs
        own_loss = cls.loss is not Law.loss
        if not (own_logs or own_loss):
            raise TypeError(f"{cls.__name__} must define log_loss_from_logs(*log_inputs) or loss(*inputs)")
        if not any("unconstrained_names" in b.__dict__ for b in cls.__mro__ if b is not Law):
            # the optimiser's coordinate names: log_X for positive parameters
            cls.unconstrained_names = tuple(f"log_{n}" if sup[n] == "positive" else n for n in cls.names)
        jax.tree_util.register_pytree_node(
            cls, lambda law: (tuple(getattr(law, n) for n in cls.names), None),
            lambda _, leaves: _unflatten(cls, leaves))

    def __init__(self, *args, **kwargs):
        names = type(self).names
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} parameters {names}; got {len(args)}")
        values = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise TypeError(f"{type(self).__name__} has no parameter {k!r}; parameters are {names}")
            if k in values:
                raise TypeError(f"{type(self).__name__}: parameter {k!r} given twice")
            values[k] = v
        missing = [n for n in names if n not in values]
        if missing:
            raise TypeError(f"{type(self).__name__} is missing parameter(s) {missing}")
        for n in names:
            object.__setattr__(self, n, values[n])

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable; use _replace({name}=...)")

    def __iter__(self):
        return iter(tuple(getattr(self, n) for n in type(self).names))

    def __len__(self):
        return len(type(self).names)

    def __getitem__(self, i):
        return tuple(self)[i]

    @property
    def _fields(self) -> tuple[str, ...]:
        return type(self).names

    def _replace(self, **kwargs):
        return type(self)(**{**self._asdict(), **kwargs})

    def _asdict(self) -> dict:
        return {n: getattr(self, n) for n in type(self).names}

    def __repr__(self):
        def fmt(v):
            a = np.asarray(v) if not isinstance(v, jax.core.Tracer) else None
            if a is not None and a.ndim == 0:
                return f"{float(a):.6g}"
            return f"<{getattr(v, 'shape', '?')}>"
        return f"{type(self).__name__}(" + ", ".join(f"{n}={fmt(getattr(self, n))}" for n in self.names) + ")"

    # ------------------------------------------------------------------ the law itself (one set)

    def log_loss_from_logs(self, *logs):
        """log L from the logs of the inputs (in ``inputs`` order), for one parameter set."""
        return jnp.log(self.loss(*(jnp.exp(x) for x in logs)))

    def loss(self, *inputs):
        """L at the inputs (in ``inputs`` order), for one parameter set."""
        return jnp.exp(self.log_loss_from_logs(*(jnp.log(jnp.asarray(x, dtype=jnp.float64)) for x in inputs)))

    def log_loss(self, *inputs):
        """log L at the inputs (in ``inputs`` order), for one parameter set."""
        return self.log_loss_from_logs(*(jnp.log(jnp.asarray(x, dtype=jnp.float64)) for x in inputs))

    def derived(self) -> dict:
        """Derived quantities (e.g. allocation exponents) as a dict of arrays; none by default."""
        return {}

    # ------------------------------------------------------------------ unconstrained coordinates

    @classmethod
    def positive_mask(cls) -> np.ndarray:
        return np.array([cls.support.get(n, "real") == "positive" for n in cls.names])

    @classmethod
    def outside_plausible(cls, name: str, u: float) -> tuple[float, float] | None:
        """The plausible range of ``name`` in its own units, if ``u`` (its value in unconstrained
        coordinates: the log of a positive parameter) lies outside ``plausible_bounds()``; else None,
        as for a form that declares no bounds."""
        try:
            lo, hi = cls.plausible_bounds()
        except NotImplementedError:
            return None
        i = cls.names.index(name)
        if lo[i] <= u <= hi[i]:
            return None
        f = np.exp if cls.positive_mask()[i] else float
        return float(f(lo[i])), float(f(hi[i]))

    def to_unconstrained(self) -> jax.Array:
        """The optimiser's vector, shape ``sample_shape + (p,)`` (logs of positive parameters)."""
        pos = type(self).positive_mask()
        return jnp.stack([jnp.log(getattr(self, n)) if p else jnp.asarray(getattr(self, n))
                          for n, p in zip(self.names, pos)], axis=-1)

    @classmethod
    def from_unconstrained(cls, x):
        """Inverse of :meth:`to_unconstrained`; ``x`` has shape ``(..., p)``."""
        pos = cls.positive_mask()
        return _unflatten(cls, [jnp.exp(x[..., i]) if p else x[..., i] for i, p in enumerate(pos)])

    @classmethod
    def log_loss_unconstrained(cls, x, *logs):
        """log L straight from the unconstrained vector (the optimiser's hot path)."""
        return cls.from_unconstrained(x).log_loss_from_logs(*logs)

    # ------------------------------------------------------------------ fitting declarations

    @classmethod
    def start_box(cls) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) of the multi-start box in unconstrained coordinates."""
        raise NotImplementedError(f"{cls.__name__} declares no start_box() (or start_grid())")

    @classmethod
    def plausible_bounds(cls) -> tuple[np.ndarray, np.ndarray]:
        """A box in unconstrained coordinates outside which a fitted law is degenerate."""
        raise NotImplementedError(f"{cls.__name__} declares no plausible_bounds()")

    @classmethod
    def start_grid(cls) -> np.ndarray:
        """Multi-start grid (S, p): a full factorial over :meth:`start_box`, at most ~1,000 starts."""
        lo, hi = (np.asarray(b, dtype=np.float64) for b in cls.start_box())
        p = lo.size
        levels = max(2, int(np.floor(1000 ** (1.0 / p))))
        return factorial(*(np.linspace(lo[i], hi[i], levels) for i in range(p)))

    @classmethod
    def coarse_grid(cls) -> np.ndarray:
        """A few global starts (8, p) for the bootstrap's basin search: a Latin hypercube in the box."""
        grid = cls.start_grid()
        lo, hi = grid.min(axis=0), grid.max(axis=0)
        rng = np.random.default_rng(8)
        u = np.stack([(rng.permutation(8) + 0.5) / 8 for _ in range(lo.size)], axis=-1)
        return lo + u * (hi - lo)

    @classmethod
    def jitter_scale(cls) -> np.ndarray:
        """Scales of the jittered copies of the optimum that every bootstrap replicate also starts from."""
        return np.full(len(cls.names), 0.05)

    # ------------------------------------------------------------------ posterior declarations

    @classmethod
    def default_priors(cls) -> dict:
        """Default priors, a dict of sample site -> numpyro distribution (see :meth:`sites`)."""
        raise NotImplementedError(f"{cls.__name__} declares no default_priors() for a posterior")

    @classmethod
    def sites(cls) -> tuple[str, ...]:
        """The posterior's sample sites, in order: each parameter, or its ``site_of`` stand-in."""
        return tuple(cls.site_of.get(n, n) for n in cls.names)

    @classmethod
    def from_sites(cls, values: dict, center):
        """The law from sampled site values; ``values`` may hold a parameter itself (fixed or tied)
        in place of its site. ``center`` is the data's weighted mean of each log input."""
        return cls(**{n: values[n] for n in cls.names})

    def to_sites(self, center) -> dict:
        """Inverse of :meth:`from_sites` (for starting points)."""
        return self._asdict()

    @classmethod
    def posterior_starts(cls, logs, logL, weights, center) -> list[dict]:
        """Starting points for the posterior mode search: dicts of (constrained) site values.

        Traceable: ``logs`` (k, n) log inputs, ``logL`` (n,) log losses, ``weights`` (n,) or None,
        ``center`` (k,) weighted means of the log inputs.
        """
        return [cls.from_unconstrained(jnp.asarray(x)).to_sites(center) for x in cls.coarse_grid()]
