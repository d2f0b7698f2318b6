"""Bootstrap at scale: every replicate's resampling and multi-start fit in one jit+vmap program.

Three schemes, all expressed as inputs to the foundation's traceable
:func:`~bayes_scaling.fitting.multistart` over a fixed-size dataset, so that one compiled program
serves every replicate, every chunk and every fit-region mask:

* ``"rows"`` (Besiroglu et al. 2024's scheme): resample the m = sum(mask) masked rows with replacement;
  each row's multiplicity becomes its weight in the summed Huber objective.
* ``"models"`` (cluster bootstrap): resample whole model sizes with replacement, since the runs of one
  model size share errors (one architecture, one tuning); a size drawn k times weighs all its rows k.
* ``"residual"`` (model-based): keep the design, and add to the full-data fit's predictions residuals
  resampled with replacement from the full-data fit's residuals.

Any law spec works (a :class:`~bayes_scaling.laws.Law` subclass or a
:class:`~bayes_scaling.laws.Constrained` one): the traceable functions take ``logX``, the (k, n) logs of
the law's inputs (``data.log_inputs(law)``), and the spec as a static ``law`` keyword; the law supplies
its coarse grid and jitter scales for the shared starts.

Replicate ``i`` uses the key ``jax.random.fold_in(key, i)``, so a replicate does not depend on how
replicates are chunked or sharded across devices: the same seed gives the same resampled datasets on
one device or four, in one chunk or many, and fits that agree to the optimiser's tolerance (XLA may
order last-bit arithmetic differently for another layout; measured differences <= 1e-7), and
replicate ranges computed on different hosts can be concatenated (see :func:`bootstrap`'s
``first_index``).

Failed replicates (the best polished start did not converge, or a non-finite fit) are never mixed in:
:func:`bootstrap` drops them from ``law``, counts them in ``n_failed`` and warns.

Modules: :mod:`.groups` (model sizes), :mod:`.starts` (shared starts and basins), :mod:`.resample`
(one resample, traceable), :mod:`.replicates` (the traceable core), :mod:`.chunks` (chunks x devices),
:mod:`.result` (the result type) and :mod:`.driver` (:func:`bootstrap`).
"""

from __future__ import annotations

# Settings (ATOL ... SCREEN_STEPS per replicate, MAX_RESTARTS and the chunk sizes), importable as before.
from .chunks import (  # noqa: F401
    CHUNK_PER_ACCELERATOR,
    CHUNK_PER_DEVICE,
    LANES_PER_ACCELERATOR,
    LANES_PER_DEVICE,
    MAX_RESTARTS,
)
from .driver import bootstrap
from .groups import model_groups
from .replicates import ATOL, MAX_STEPS, POLISH, RTOL, SCREEN_STEPS  # noqa: F401
from .replicates import ReplicateFits, bootstrap_fits, replicate_fits
from .resample import SCHEMES, resample
from .result import BootstrapResult, concatenate
from .starts import coarse_grid, competitive_basins, default_starts, find_basins

__all__ = [
    "SCHEMES",
    "BootstrapResult",
    "ReplicateFits",
    "bootstrap",
    "bootstrap_fits",
    "coarse_grid",
    "competitive_basins",
    "concatenate",
    "default_starts",
    "find_basins",
    "model_groups",
    "replicate_fits",
    "resample",
]
