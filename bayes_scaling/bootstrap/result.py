"""The bootstrap's result, and concatenation of results computed over disjoint replicate ranges."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..fitting import FitResult

__all__ = ["BootstrapResult", "concatenate"]


class BootstrapResult(NamedTuple):
    """Bootstrap replicates of a law fit.

    Only converged replicates are kept: ``law``, ``x``, ``objective``, ``sigma``, ``on_bound`` and
    ``index`` have one entry per *kept* replicate (leading axis ``replicate``), in replicate order,
    so that summaries of ``law`` never mix in failed fits. ``converged`` has one entry per
    *requested* replicate; ``n_failed = converged.size - converged.sum()``.

    Attributes:
        law: the full law with (replicate,) leaves (kept replicates); for a constrained spec its
            fixed parameters hold their fixed values and tied ones their leaders'.
        x: (replicate, p) unconstrained optima (the spec's free ``unconstrained_names``).
        objective: (replicate,) objective on each replicate's resampled data.
        sigma: (replicate,) residual sd of log loss of each replicate's fit on its resampled data.
        on_bound: (replicate,) whether the optimum sits on the law's plausibility bounds.
        index: (replicate,) global replicate index (its key is ``fold_in(key, index)``).
        converged: (n,) convergence of every requested replicate.
        n_failed: number of requested replicates dropped as failed.
        scheme: "rows", "models" or "residual".
        full: the full-data :class:`~bayes_scaling.fitting.FitResult` (the law's start grid;
            Hoffmann's 4,500 starts for Chinchilla).
        starts: (S, p) starts every replicate used.
        n_groups: number of distinct model sizes among the masked rows (:func:`model_groups`).
        basins: (K, p) competitive local optima of the full data added to the default starts.
        n_restarted: replicates whose BFGS run hit ``max_steps`` and was restarted from where it
            stopped (those that then converged are kept).
        timing: wall seconds of the host steps: ``"full_fit_s"`` (full-data fit and basin search)
            and ``"replicates_s"`` (all chunks, including any compilation; of which ``"restarts_s"``
            restarting the replicates that stalled at max_steps), the process CPU seconds
            of the latter (``"replicates_cpu_s"``), ``"chunks"``, ``"chunk_size"`` (replicates per
            chunk) and ``"devices"``.
        law_spec: the law spec the replicates were fitted with (a Law subclass or a Constrained one).
    """

    law: object
    x: np.ndarray
    objective: np.ndarray
    sigma: np.ndarray
    on_bound: np.ndarray
    index: np.ndarray
    converged: np.ndarray
    n_failed: int
    scheme: str
    full: FitResult
    starts: np.ndarray
    n_groups: int = 0
    basins: np.ndarray | None = None
    n_restarted: int = 0
    timing: dict | None = None
    law_spec: object = None


def concatenate(results) -> BootstrapResult:
    """Concatenate bootstrap results over disjoint replicate ranges (e.g. one per host).

    The ranges must come from the same key, data, law spec, scheme and starts; the full-data fit of
    the first result is kept.

    Examples:
        >>> import jax, bayes_scaling as bs
        >>> from bayes_scaling.bootstrap import bootstrap
        >>> key, data = jax.random.key(0), bs.example_data()
        >>> a, b = bootstrap(key, data, 8), bootstrap(key, data, 8, first_index=8)
        >>> concatenate([a, b]).index.tolist() == list(range(16))
        True
    """
    results = list(results)
    if not results:
        raise ValueError("concatenate needs at least one BootstrapResult")
    r0 = results[0]
    for r in results[1:]:
        if r.scheme != r0.scheme or not np.array_equal(r.starts, r0.starts):
            raise ValueError("cannot concatenate bootstrap results with different schemes or starts")
        if r.law_spec != r0.law_spec:
            raise ValueError(f"cannot concatenate bootstrap results of different laws: {r0.law_spec!r} "
                             f"and {r.law_spec!r}")
    index = np.concatenate([r.index for r in results])
    if np.unique(index).size != index.size:
        raise ValueError("bootstrap results overlap: some replicate indices appear twice")

    def cat(name):
        return np.concatenate([getattr(r, name) for r in results])

    x = cat("x")
    spec = r0.law_spec if r0.law_spec is not None else type(r0.law)
    return r0._replace(
        law=spec.from_unconstrained(jnp.asarray(x)), x=x, objective=cat("objective"),
        sigma=cat("sigma"), on_bound=cat("on_bound"), index=index, converged=cat("converged"),
        n_failed=sum(r.n_failed for r in results))
