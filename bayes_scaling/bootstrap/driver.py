"""The host driver :func:`bootstrap`: validate, fit the full data, choose starts, run chunks, assemble."""

from __future__ import annotations

import math
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_int, check_key
from ..data import MIN_POINTS, Dataset
from ..fitting import LOSSES, FitResult
from ..fitting import fit as _fit
from ..laws import resolve
from .chunks import plan_chunks, restart_failures, run_chunks, runner
from .groups import model_groups
from .replicates import ATOL, MAX_STEPS, POLISH, RTOL, SCREEN_STEPS, ReplicateFits
from .resample import SCHEMES
from .result import BootstrapResult
from .starts import coarse_grid, competitive_basins, default_starts, find_basins

__all__ = ["bootstrap"]


# ----------------------------------------------------------------------------------------------
# Step 1: validate the arguments (on the host, with clear messages)
# ----------------------------------------------------------------------------------------------


def _validate_mask(mask, n):
    if mask is None:
        return np.ones(n, dtype=np.float64)
    m = np.asarray(mask)
    if m.shape != (n,):
        raise ValueError(f"mask must have shape ({n},) (one entry per data row); got {m.shape}")
    m = m.astype(np.float64)
    bad = np.flatnonzero((m != 0) & (m != 1))
    if bad.size:
        raise ValueError(f"mask must hold only 0/1 (or booleans); {bad.size} other values, first at "
                         f"row {bad[0]} (value {m[bad[0]]})")
    if m.sum() < MIN_POINTS:
        raise ValueError(f"mask selects {int(m.sum())} rows; a fit needs at least {MIN_POINTS}")
    return m


def _validate_starts(starts, spec):
    if starts is None:
        return None
    p = len(spec.unconstrained_names)
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[1] != p or starts.shape[0] < 1:
        raise ValueError(f"starts must have shape (S, {p}) in {spec.unconstrained_names}; got {starts.shape}")
    if not np.all(np.isfinite(starts)):
        raise ValueError("starts must be finite")
    return starts


def _validate_full(full, spec):
    if full is None:
        return None
    if not (hasattr(full, "x") and hasattr(full, "objective")):
        raise TypeError(f"full must be a FitResult of the same (masked) data; got {type(full).__name__}")
    p = len(spec.unconstrained_names)
    x = np.asarray(full.x, dtype=np.float64)
    if x.shape != (p,) or not np.all(np.isfinite(x)):
        raise ValueError(f"full.x must be {p} finite values in {spec.unconstrained_names} (a FitResult of "
                         f"law {spec!r} on the same data); got shape {x.shape}")
    if not np.isfinite(float(full.objective)):
        raise ValueError(f"full.objective must be finite; got {full.objective}")
    return full


def _validate_arguments(data, n, *, law, scheme, first_index, delta, loss, chunk_size, max_steps,
                        basin_ratio):
    """Check the scalar arguments; returns (spec, n, first_index, chunk_size, max_steps)."""
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a bayes_scaling Dataset; got {type(data).__name__}")
    n = check_int("n (number of replicates)", n, 1)
    first_index = check_int("first_index", first_index, 0)
    if first_index + n > 2**32:
        raise ValueError(f"replicate indices must lie in [0, 2**32); got first_index={first_index}, n={n}")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; expected one of {SCHEMES}")
    spec = resolve(law)
    if not (isinstance(delta, (int, float, np.floating)) and delta > 0 and math.isfinite(delta)):
        raise ValueError(f"delta must be a positive finite number; got {delta!r}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, 1)
    max_steps = check_int("max_steps", max_steps, 1)
    if not basin_ratio >= 1:
        raise ValueError(f"basin_ratio must be >= 1; got {basin_ratio}")
    return spec, n, first_index, chunk_size, max_steps


def _prepare_data(data, spec, mask, scheme, group_rtol):
    """(logX, logL, weights, groups, n_groups) of the masked data; checks the models scheme."""
    w = _validate_mask(mask, data.n)
    groups = model_groups(data.N, group_rtol)
    n_groups = int(np.unique(groups[w > 0]).size)
    if scheme == "models" and n_groups < 2:
        raise ValueError(f"scheme 'models' needs at least 2 distinct model sizes; the data hold {n_groups}")
    return data.log_inputs(spec), jnp.log(data.loss), w, groups, n_groups


# ----------------------------------------------------------------------------------------------
# Steps 2-3: the full-data fit and the replicates' starts
# ----------------------------------------------------------------------------------------------


def _choose_starts(spec, logX, logL, w, full, starts, *, loss, delta, basin_ratio, screen_steps, polish):
    """The starts every replicate shares and the per-replicate screen/polish settings.

    Returns:
        (starts (S, p), basins (K, p), screen_steps, polish).
    """
    p = len(spec.unconstrained_names)
    basins = np.zeros((0, p))
    if starts is None:
        bx, bf, bc = find_basins(jnp.asarray(coarse_grid(spec)), logX, logL, w, float(delta), law=spec,
                                 loss=loss)
        basins = competitive_basins(bx, bf, bc, float(full.objective), ratio=basin_ratio)
        starts = default_starts(np.asarray(full.x), basins, law=spec)
        auto_screen, auto_polish = 0, (1 if basins.shape[0] == 0 else starts.shape[0])
    else:
        auto_screen, auto_polish = SCREEN_STEPS, POLISH
    screen_steps = auto_screen if screen_steps is None else check_int("screen_steps", screen_steps, 0)
    polish = min(auto_polish if polish is None else check_int("polish", polish, 1), starts.shape[0])
    return starts, basins, screen_steps, polish


# ----------------------------------------------------------------------------------------------
# Step 7: assemble the result
# ----------------------------------------------------------------------------------------------


def finite_laws(spec, x) -> np.ndarray:
    """Whether each unconstrained optimum ``x`` (..., p) gives a law whose every parameter is finite.

    A fit can converge in the unconstrained coordinates (where the objective is computed, in logs) at a
    point whose parameters overflow: e.g. log A = 800 with alpha = 66, where A / N^alpha is tiny at the
    data but A itself is inf, so every prediction from that law is inf or NaN. Such a replicate is a
    failed one (dropped, counted and warned), not part of the bootstrap distribution.
    """
    law = spec.from_unconstrained(jnp.asarray(x))
    leaves = [np.asarray(v) for v in jax.tree_util.tree_leaves(law)]
    return np.logical_and.reduce([np.isfinite(v) for v in leaves])


def _assemble(spec, fits: ReplicateFits, n, first_index, *, scheme, full, starts, n_groups, basins,
              n_restarted, timing, warn, max_steps) -> BootstrapResult:
    """Keep the converged replicates, flag bounds, warn, and build the :class:`BootstrapResult`."""
    conv = np.asarray(fits.converged, dtype=bool) & finite_laws(spec, fits.x)
    keep = np.flatnonzero(conv)
    x = fits.x[keep]
    lo, hi = spec.plausible_bounds()
    on_bound = np.any((x <= lo) | (x >= hi), axis=-1)
    n_failed = int(n - keep.size)
    if warn and n_failed:
        warnings.warn(
            f"{n_failed} of {n} bootstrap replicates failed (the best start did not converge within "
            f"{max_steps} BFGS steps, or the fit was not finite) and were dropped; the result holds the "
            f"{keep.size} converged replicates", RuntimeWarning, stacklevel=3)
    if warn and on_bound.any():
        warnings.warn(
            f"{int(on_bound.sum())} of {keep.size} bootstrap replicates have their optimum on a "
            "plausibility bound (a degenerate law, e.g. an exponent at 0); they are kept, as part of "
            "the estimator's bootstrap distribution", RuntimeWarning, stacklevel=3)
    return BootstrapResult(
        law=spec.from_unconstrained(jnp.asarray(x)),
        x=x,
        objective=fits.objective[keep],
        sigma=fits.sigma[keep],
        on_bound=on_bound,
        index=(first_index + keep).astype(np.int64),
        converged=conv,
        n_failed=n_failed,
        scheme=scheme,
        full=full,
        starts=starts,
        n_groups=n_groups,
        basins=basins,
        n_restarted=n_restarted,
        timing=timing,
        law_spec=spec,
    )


# ----------------------------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------------------------


def bootstrap(key, data: Dataset, n: int, *, law="chinchilla", scheme: str = "rows", starts=None,
              mask=None, chunk_size: int | None = None, delta: float = 1e-3, progress: bool = False,
              first_index: int = 0, loss: str = "huber", group_rtol: float = 1e-4,
              screen_steps: int | None = None, polish: int | None = None, max_steps: int = MAX_STEPS,
              rtol: float = RTOL, atol: float = ATOL, basin_ratio: float = 2.0, devices=None,
              warn: bool = True, full: FitResult | None = None) -> BootstrapResult:
    """Bootstrap a law fit: ``n`` resampled datasets, each fitted by a multi-start robust fit.

    Steps:

    1. The arguments are validated on the host.
    2. The (masked) data are fitted from the law's start grid (:func:`~bayes_scaling.fitting.fit`;
       Hoffmann's 4,500-start grid for Chinchilla): the full-data optimum, the *centre*. A
       precomputed fit of the same (masked) data may be passed as ``full`` instead.
    3. The starts of the law's coarse global grid (:func:`coarse_grid`) are polished to convergence
       on the same data (:func:`find_basins`); local optima other than the centre's whose objective
       is within ``basin_ratio`` of the best are kept (:func:`competitive_basins`): K of them. Every
       replicate runs the multistart from the same starts (:func:`default_starts`): the centre, the
       K basins and 2 jittered centres. With K = 0 the start with the lowest objective on the
       replicate's data (normally the centre) is polished; with K > 0 every start is polished, so a
       replicate whose optimum lies in another basin finds it instead of inheriting the centre's. On
       Epoch's data K = 0 (the next basin that Hoffmann's grid finds is 10.8 times worse), and every
       replicate checked (16 per scheme, benchmarks/bench_bootstrap.py) reached the optimum of a full
       4,500-start fit of that replicate (relative objective excess <= 1.3e-9, within BFGS's
       tolerance of ~1e-7).
    4. The replicates are planned in chunks of a fixed size (one compilation, bounded memory), each
       chunk sharded across the local devices along a ``"replicate"`` mesh axis
       (:mod:`bayes_scaling.devices`),
    5. and run (each replicate resamples with ``scheme``).
    6. A few replicates that stopped at ``max_steps`` are restarted from where they stopped.
    7. The converged replicates are assembled into the result.

    Args:
        key: PRNG key (``jax.random.key(seed)``); replicate i uses ``fold_in(key, i)``.
        data: a validated :class:`~bayes_scaling.data.Dataset` holding the law's inputs.
        n: number of replicates.
        law: the law spec: a name (``"chinchilla"``), a :class:`~bayes_scaling.laws.Law` subclass or a
            :class:`~bayes_scaling.laws.Constrained` one (fixed parameters stay fixed in every
            replicate).
        scheme: "rows" (resample runs), "models" (resample whole model sizes) or "residual" (add
            resampled residuals of the full-data fit to its predictions); see :func:`resample`.
        starts: (S, p) unconstrained starts shared by all replicates, replacing step 3's starts.
            Unless ``screen_steps``/``polish`` say otherwise, only the start with the lowest objective
            on each replicate's data is polished (as :func:`bootstrap_fits` does by default): for a
            large grid of your own pass e.g. ``screen_steps=10, polish=16`` (``fit``'s settings).
        mask: optional (n_points,) 0/1 selection of rows: the bootstrap of that subset.
        chunk_size: replicates per device in one chunk (a chunk holds ``chunk_size`` x devices
            replicates); default 256 on a CPU and 32,768 on an accelerator, fewer when there are many
            starts (at most 8,192 replicate x start lanes per CPU device, 2^20 per accelerator). Every
            chunk has the same shape, so one compilation serves all.
        delta: Huber delta on log loss.
        progress: show a progress bar over chunks on stderr.
        first_index: global index of the first replicate: runs over [0, k) and [k, 2k) with the same
            key (e.g. on two hosts) together hold exactly the replicates of one run of 2k
            (:func:`concatenate`).
        loss: fit objective (``"huber"``, ``"squared-log"`` or ``"squared-raw"``).
        group_rtol: relative tolerance grouping N values into model sizes (:func:`model_groups`).
        screen_steps, polish: per-replicate BFGS screening steps and number of polished starts
            (defaults: 0, and 1 or every start; see above).
        max_steps, rtol, atol: per-replicate BFGS step limit and tolerances.
        basin_ratio: objective ratio under which another basin counts as competitive (step 3).
        devices: devices to shard over (default: all local devices).
        warn: warn about failed replicates and replicates on a plausibility bound.
        full: optional full-data :class:`~bayes_scaling.fitting.FitResult` of the same law on the same
            (masked) data, reused instead of refitting (e.g. by a sweep that already fitted it).

    Returns:
        A :class:`BootstrapResult`; failed replicates are dropped from ``law`` and counted in
        ``n_failed``.

    Examples:
        >>> import jax, bayes_scaling as bs
        >>> from bayes_scaling.bootstrap import bootstrap
        >>> res = bootstrap(jax.random.key(0), bs.example_data(), 64)
        >>> res.x.shape[0] + res.n_failed
        64

    References:
        Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt" (arXiv:2404.10102), sec. 3
        (4,000 row resamples); Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 9
        (residual bootstrap); Cameron, Gelbach & Miller 2008, "Bootstrap-based improvements for
        inference with clustered errors" (cluster bootstrap).
    """
    # 1. validate
    check_key(key)
    spec, n, first_index, chunk_size, max_steps = _validate_arguments(
        data, n, law=law, scheme=scheme, first_index=first_index, delta=delta, loss=loss,
        chunk_size=chunk_size, max_steps=max_steps, basin_ratio=basin_ratio)
    logX, logL, w, groups, n_groups = _prepare_data(data, spec, mask, scheme, group_rtol)
    starts = _validate_starts(starts, spec)
    full = _validate_full(full, spec)

    # 2. full-data fit (the centre)
    t_start = time.perf_counter()
    if full is None:
        full = _fit(data, law=spec, loss=loss, delta=delta, weights=w, warn=warn)

    # 3. starts
    starts, basins, screen_steps, polish = _choose_starts(
        spec, logX, logL, w, full, starts, loss=loss, delta=delta, basin_ratio=basin_ratio,
        screen_steps=screen_steps, polish=polish)

    # 4. plan chunks and compile (cached per devices and settings)
    devs = tuple(jax.local_devices() if devices is None else devices)
    plan = plan_chunks(n, starts.shape[0], devs, chunk_size, n_points=data.n)
    settings = {"scheme": scheme, "delta": float(delta), "loss": loss, "law": spec,
                "screen_steps": screen_steps, "polish": polish, "max_steps": max_steps,
                "rtol": float(rtol), "atol": float(atol)}
    run, _, split, rep = runner(devs, tuple(sorted(settings.items())))
    consts = jax.device_put((logX, logL, jnp.asarray(w), jnp.asarray(starts), jnp.asarray(groups),
                             jnp.asarray(full.x)), rep)
    key = jax.device_put(key, rep)
    t_fit = time.perf_counter() - t_start

    # 5. run the chunks
    t_start, c_start = time.perf_counter(), time.process_time()
    fits = run_chunks(run, split, key, consts, n, first_index, plan, progress=progress,
                      desc=f"bootstrap ({scheme}, {n} replicates, {plan.n_devices} device(s))")

    # 6. restart replicates that stalled at max_steps
    t_restart = time.perf_counter()
    n_restarted = restart_failures(run, split, rep, key, consts, fits, first_index, plan, settings)
    t_end = time.perf_counter()
    timing = {"full_fit_s": t_fit, "replicates_s": t_end - t_start, "restarts_s": t_end - t_restart,
              "replicates_cpu_s": time.process_time() - c_start, "chunks": plan.n_chunks,
              "chunk_size": plan.chunk, "devices": plan.n_devices}

    # 7. assemble
    return _assemble(spec, fits, n, first_index, scheme=scheme, full=full, starts=starts,
                     n_groups=n_groups, basins=basins, n_restarted=n_restarted, timing=timing, warn=warn,
                     max_steps=max_steps)
