"""Profile of the fit objective along one parameter: how well do the data pin it down?

For each value ``v`` of one free parameter, the point-fit objective (summed Huber loss on log loss, or
another loss of :func:`bayes_scaling.fitting.objective`) is minimised over all the *other* free
parameters. A profile that stays within a fraction of a percent of its minimum over a wide range of
``v`` says the parameter is weakly identified: many values fit the data almost equally well, and a
point estimate of it depends on the optimiser and its starts. Every value's minimisation starts from
the law's start grid (with the profiled coordinate removed) and runs BFGS from each start, all values
and starts in one compiled program; the best start is kept.

Examples:
    >>> import numpy as np, bayes_scaling as bs
    >>> p = profile(bs.example_data(), "alpha", [0.3, 0.34, 0.4], law="chinchilla")  # doctest: +SKIP
    >>> p["excess"]  # objective / minimum over the values - 1  # doctest: +SKIP

References:
    Venzon & Moolgavkar 1988, "A method for computing profile-likelihood-based confidence
    intervals", Applied Statistics 37(1) (the profile construction; here on the fit objective).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from ..data import Dataset
from ..fitting import objective
from ..laws import free_names, resolve

__all__ = ["profile"]


def profile(data: Dataset, name: str, values, *, law="chinchilla", starts=None, loss: str = "huber",
            delta: float = 1e-3, max_steps: int = 2000) -> dict:
    """The objective minimised over the other free parameters at each value of parameter ``name``.

    Args:
        data: the dataset.
        name: a free parameter of ``law`` (``bayes_scaling.laws.free_names``).
        values: the values of ``name`` to profile (1-D; > 0 for a positive parameter).
        law: the law spec (a name, a form or a :class:`~bayes_scaling.laws.Constrained` one).
        starts: (S, p) unconstrained starts (the profiled column is ignored); default the law's start
            grid.
        loss, delta: the objective, as in :func:`bayes_scaling.fit`.
        max_steps: BFGS step limit per start.

    Returns:
        ``{"parameter", "values", "objective", "excess", "law", "converged"}``: ``objective[i]`` is the
        best objective at ``values[i]``, ``excess = objective / min(objective) - 1``, ``law`` the full
        law at each value (leading dimension ``len(values)``), ``converged[i]`` whether the best
        start's BFGS converged (always True when ``name`` is the only free parameter).
    """
    spec = resolve(law)
    names = free_names(spec)
    if name not in names:
        raise ValueError(f"{name!r} is not a free parameter of {spec!r}; free parameters are {names}")
    k = names.index(name)
    v = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"values must be a non-empty 1-D array of finite numbers; got {values!r}")
    positive = bool(spec.positive_mask()[k])
    if positive and not np.all(v > 0):
        raise ValueError(f"{name} is positive; every profiled value must be > 0, got {v[v <= 0].tolist()}")
    coord = jnp.asarray(np.log(v) if positive else v)
    starts = np.asarray(spec.start_grid() if starts is None else starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[1] != len(names):
        raise ValueError(f"starts must have shape (S, {len(names)}); got {starts.shape}")
    rest = np.unique(np.delete(starts, k, axis=1), axis=0)
    logX, logL = data.log_inputs(spec), jnp.log(data.loss)

    def full(xr, c):
        return jnp.concatenate([xr[:k], c[None], xr[k:]])

    def f(xr, c):
        return objective(full(xr, c), logX, logL, law=spec, loss=loss, delta=delta)

    if rest.shape[1] == 0:
        x = jax.vmap(lambda c: full(jnp.zeros(0), c))(coord)
        obj = jax.jit(jax.vmap(lambda c: f(jnp.zeros(0), c)))(coord)
        ok = np.ones(v.size, dtype=bool)
    else:
        solver = optx.BFGS(rtol=1e-8, atol=1e-10)

        def one(x0, c):
            sol = optx.minimise(f, solver, x0, args=c, max_steps=max_steps, throw=False)
            val = f(sol.value, c)
            val = jnp.where(jnp.isfinite(val), val, jnp.inf)
            return sol.value, val, sol.result == optx.RESULTS.successful

        run = jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(None, 0)))
        xr, vals, conv = run(jnp.asarray(rest), coord)  # (values, starts, ...)
        best = jnp.argmin(vals, axis=1)
        pick = jnp.arange(v.size)
        obj = vals[pick, best]
        x = jax.vmap(full)(xr[pick, best], coord)
        ok = np.asarray(conv[pick, best])
    obj = np.asarray(obj)
    return {"parameter": name, "values": v, "objective": obj, "excess": obj / np.min(obj) - 1,
            "law": spec.from_unconstrained(x), "converged": ok}
