"""bayes_scaling: scaling-law fits with honest uncertainty.

Layout (each a subpackage or module; the law is the one protocol everything else is written against):

* :mod:`~bayes_scaling.laws`: the law protocol (:class:`~bayes_scaling.laws.Law`), the forms
  (:class:`Chinchilla`), and :class:`~bayes_scaling.laws.Constrained` for fixed or tied parameters.
* :mod:`~bayes_scaling.data`: loading and validating runs (:func:`from_csv`, :func:`simulate`).
* :mod:`~bayes_scaling.fitting`: robust multi-start point fits (:func:`fit`).
* :mod:`~bayes_scaling.bootstrap`: resampled refits at scale (:func:`bootstrap`).
* :mod:`~bayes_scaling.posterior` (alias ``nuts``): the numpyro model, the NUTS engine, diagnostics and
  ArviZ artifacts (:func:`sample`).
* :mod:`~bayes_scaling.prediction` (alias ``predict``): loss forecasts, compute-optimal allocation and
  budget decisions at any sample shape.
* :mod:`~bayes_scaling.analysis`: fit-region and fitting-choice sensitivity (alias ``sensitivity``),
  extrapolation backtests (``backtest``) and simulated calibration (``calibration``).
* :mod:`~bayes_scaling.tables` (one result table, one JSON encoder), :mod:`~bayes_scaling.artifacts`
  (netCDF with provenance), :mod:`~bayes_scaling.summary`, :mod:`~bayes_scaling.plots`, and the
  command line :mod:`~bayes_scaling.cli`.

Fits are done in float64 (Huber with delta = 1e-3 on log loss needs it), so importing the package
enables JAX's x64 mode. The heavy parts (numpyro, ArviZ, matplotlib) load only when used.
"""

import importlib

import jax

jax.config.update("jax_enable_x64", True)

from ._version import __version__ as __version__  # noqa: E402
from .data import Dataset as Dataset  # noqa: E402
from .data import DataError as DataError  # noqa: E402
from .data import data_hash as data_hash  # noqa: E402
from .data import example_data as example_data  # noqa: E402
from .data import from_arrays as from_arrays  # noqa: E402
from .data import from_csv as from_csv  # noqa: E402
from .data import from_dataframe as from_dataframe  # noqa: E402
from .data import load as load  # noqa: E402
from .data import simulate as simulate  # noqa: E402
from .fitting import FitResult as FitResult  # noqa: E402
from .fitting import fit as fit  # noqa: E402
from .laws import HOFFMANN_2022 as HOFFMANN_2022  # noqa: E402
from .laws import Chinchilla as Chinchilla  # noqa: E402
from .laws import ComputeOnly as ComputeOnly  # noqa: E402
from .laws import Constrained as Constrained  # noqa: E402
from .laws import DataConstrained as DataConstrained  # noqa: E402
from .laws import Kaplan as Kaplan  # noqa: E402
from .laws import Law as Law  # noqa: E402
from .laws import evaluate as evaluate  # noqa: E402

# Imported eagerly and rebound, so that ``bs.bootstrap`` is the function, as it always was (the
# subpackage stays importable as ``bayes_scaling.bootstrap``).
from .bootstrap import BootstrapResult as BootstrapResult  # noqa: E402
from .bootstrap import bootstrap as bootstrap  # noqa: E402

# Loaded on first use (PEP 562), so that a point fit imports neither numpyro, ArviZ nor matplotlib.
_LAZY = {
    "nuts": ("bayes_scaling.posterior", None),
    "posterior": ("bayes_scaling.posterior", None),
    "predict": ("bayes_scaling.prediction", None),
    "prediction": ("bayes_scaling.prediction", None),
    "analysis": ("bayes_scaling.analysis", None),
    "sensitivity": ("bayes_scaling.analysis", "sensitivity"),
    "backtest": ("bayes_scaling.analysis", "backtest"),
    "calibration": ("bayes_scaling.analysis", "calibration"),
    "compare": ("bayes_scaling.analysis.compare", "compare"),
    "plots": ("bayes_scaling.plots", None),
    "selection": ("bayes_scaling.selection", None),
    "PosteriorResult": ("bayes_scaling.posterior", "PosteriorResult"),
    "sample": ("bayes_scaling.posterior", "sample"),
    "allocate": ("bayes_scaling.prediction", "allocate"),
    "allocation_table": ("bayes_scaling.prediction", "allocation_table"),
    "predict_loss": ("bayes_scaling.prediction", "predict_loss"),
    "summarize_law": ("bayes_scaling.summary", "summarize_law"),
}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bayes_scaling' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "BootstrapResult",
    "PosteriorResult",
    "allocate",
    "allocation_table",
    "backtest",
    "bootstrap",
    "nuts",
    "posterior",
    "predict",
    "prediction",
    "analysis",
    "calibration",
    "compare",
    "predict_loss",
    "sample",
    "selection",
    "sensitivity",
    "summarize_law",
    "Chinchilla",
    "ComputeOnly",
    "Constrained",
    "DataConstrained",
    "Kaplan",
    "DataError",
    "Dataset",
    "FitResult",
    "HOFFMANN_2022",
    "Law",
    "data_hash",
    "evaluate",
    "example_data",
    "fit",
    "from_arrays",
    "from_csv",
    "from_dataframe",
    "load",
    "simulate",
]
