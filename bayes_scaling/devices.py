"""Device logic shared by the bootstrap and the NUTS sampler: one 1-D mesh over local devices.

Work that splits into independent units (bootstrap replicates, MCMC chains) is laid out along a
single mesh axis over all local devices. On a GPU or TPU host these are the accelerators; on a CPU
host JAX shows one device unless told otherwise, so to use several cores call
:func:`set_host_device_count` (or set ``XLA_FLAGS=--xla_force_host_platform_device_count=K``)
*before* JAX runs its first computation.

Results never depend on the device count: callers derive each unit's key from the global unit index
(``jax.random.fold_in(key, i)``), not from a per-device split.
"""

from __future__ import annotations

import os
import re

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "AXIS",
    "chain_method",
    "local_devices_info",
    "padded_size",
    "replicate_mesh",
    "replicate_sharding",
    "set_host_device_count",
]

AXIS = "replicate"
"""Name of the mesh axis along which independent units (replicates, chains) are sharded."""


def local_devices_info() -> dict:
    """The local devices as a plain dict: ``{"platform", "count", "kinds", "process_index",
    "process_count"}``."""
    devs = jax.local_devices()
    return {
        "platform": devs[0].platform,
        "count": len(devs),
        "kinds": sorted({d.device_kind for d in devs}),
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
    }


def replicate_mesh(devices=None) -> Mesh:
    """A 1-D mesh with axis ``"replicate"`` over ``devices`` (default: all local devices)."""
    devs = jax.local_devices() if devices is None else list(devices)
    if not devs:
        raise ValueError("replicate_mesh needs at least one device; got none")
    return Mesh(np.asarray(devs), (AXIS,))


def replicate_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding of an array whose leading axis is split along the mesh's replicate axis."""
    return NamedSharding(mesh, PartitionSpec(AXIS))


def padded_size(n: int, n_devices: int) -> int:
    """``n`` rounded up to a multiple of ``n_devices`` (each device gets an equal share)."""
    return -(-int(n) // int(n_devices)) * int(n_devices)


def chain_method(chains: int) -> str:
    """NumPyro's ``chain_method`` for ``chains`` chains on the local devices.

    ``"parallel"`` (one chain per device, pmap) when there are at least ``chains`` local devices,
    else ``"vectorized"`` (all chains in one vmapped program on one device): never ``"sequential"``,
    whose Python loop recompiles nothing but runs the chains one after another.
    """
    if chains < 1:
        raise ValueError(f"chains must be >= 1; got {chains}")
    return "parallel" if chains > 1 and jax.local_device_count() >= chains else "vectorized"


def set_host_device_count(n: int) -> None:
    """Expose ``n`` CPU devices (e.g. ``os.cpu_count()``) so that replicates and chains use ``n`` cores.

    Sets ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS``. It only takes effect if JAX has
    not run a computation yet; calling it later raises ``RuntimeError`` rather than silently doing
    nothing.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"host device count must be >= 1; got {n}")
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        if jax.local_device_count("cpu") == n:
            return
        raise RuntimeError(
            f"JAX backends are already initialised with {jax.local_device_count('cpu')} CPU device(s); "
            f"call set_host_device_count({n}) before the first JAX computation"
        )
    flags = re.sub(r"--xla_force_host_platform_device_count=\S+", "", os.environ.get("XLA_FLAGS", ""))
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
