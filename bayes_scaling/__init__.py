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
from .fitting import FitResult as FitResult  # noqa: E402
from .fitting import fit as fit  # noqa: E402
from .laws import HOFFMANN_2022 as HOFFMANN_2022  # noqa: E402
from .laws import Chinchilla as Chinchilla  # noqa: E402
from .laws import evaluate as evaluate  # noqa: E402
from . import backtest as backtest  # noqa: E402
from . import nuts as nuts  # noqa: E402
from . import predict as predict  # noqa: E402
from . import sensitivity as sensitivity  # noqa: E402
from .bootstrap import BootstrapResult as BootstrapResult  # noqa: E402
from .bootstrap import bootstrap as bootstrap  # noqa: E402
from .nuts import PosteriorResult as PosteriorResult  # noqa: E402
from .nuts import sample as sample  # noqa: E402
from .predict import allocate as allocate  # noqa: E402
from .predict import allocation_table as allocation_table  # noqa: E402
from .predict import predict_loss as predict_loss  # noqa: E402
from .summary import summarize_law as summarize_law  # noqa: E402

__all__ = [
    "__version__",
    "BootstrapResult",
    "PosteriorResult",
    "allocate",
    "allocation_table",
    "backtest",
    "bootstrap",
    "nuts",
    "predict",
    "predict_loss",
    "sample",
    "sensitivity",
    "summarize_law",
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
