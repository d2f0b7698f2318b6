"""bayes_scaling: scaling-law fits with honest uncertainty.

Fits are done in float64 (Huber with delta = 1e-3 on log loss needs it), so importing the package
enables JAX's x64 mode.
"""

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
from .fit import FitResult as FitResult  # noqa: E402
from .fit import fit as fit  # noqa: E402
from .laws import HOFFMANN_2022 as HOFFMANN_2022  # noqa: E402
from .laws import Chinchilla as Chinchilla  # noqa: E402
from .laws import evaluate as evaluate  # noqa: E402

__all__ = [
    "__version__",
    "Chinchilla",
    "DataError",
    "Dataset",
    "FitResult",
    "HOFFMANN_2022",
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
