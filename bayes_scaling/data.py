"""Data layer: load (N, D, loss[, U]) from CSV, arrays or a DataFrame, validated on the host.

Every loader returns a :class:`Dataset` of float64 numpy arrays that has passed :func:`validate`.
Errors say what was expected, what arrived, and which column or row. An optional unique-tokens
column U (the repeated-data runs of Muennighoff et al. 2023) is recognised by name or given
explicitly (``u_col=``, ``--u-col``); a law that reads U is refused on data without it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from importlib import resources
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Dataset",
    "DataError",
    "from_arrays",
    "from_csv",
    "from_dataframe",
    "load",
    "simulate",
    "example_data",
    "data_hash",
    "chinchilla_design",
    "DEFAULT_FLOPS_PER_PARAM_TOKEN",
]

DEFAULT_FLOPS_PER_PARAM_TOKEN = 6.0
MIN_POINTS = 6  # the Chinchilla law has 5 free parameters; a fit needs at least 5 + 1 points.


class DataError(ValueError):
    """Bad input data: the message names the column or row and what was expected."""


class Dataset(NamedTuple):
    """Validated training runs: parameters N, tokens D and final loss, float64 arrays of one length.

    Attributes:
        N: parameter counts.
        D: training tokens.
        loss: final losses (nats/token, > 0).
        label: a short description shown wherever the data is printed (e.g. "synthetic").
        U: unique training tokens (optional; laws of repeated data read it), or None.
    """

    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    label: str = ""
    U: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.N.shape[0])

    @property
    def C(self) -> np.ndarray:
        """Compute 6 N D (FLOP)."""
        return DEFAULT_FLOPS_PER_PARAM_TOKEN * self.N * self.D

    def logs(self):
        """(log N, log D, log loss) as JAX float64 arrays."""
        return jnp.log(self.N), jnp.log(self.D), jnp.log(self.loss)

    def column(self, name: str) -> np.ndarray:
        """One input column by name: ``"N"``, ``"D"``, ``"C"`` (= 6 N D) or ``"U"`` (unique tokens)."""
        if name == "C":
            return self.C
        if name in ("N", "D"):
            return getattr(self, name)
        if name == "U":
            if self.U is None:
                raise DataError("the data have no unique-tokens column U")
            return self.U
        raise DataError(f"unknown input column {name!r}; expected N, D, C or U")

    def log_inputs(self, law) -> jax.Array:
        """The logs of a law's inputs, stacked (k, n) in the law's ``inputs`` order (float64).

        ``law`` is a law spec (see :func:`bayes_scaling.laws.resolve`) or a tuple of input names.
        Raises :class:`DataError` naming the law and the missing column.
        """
        names = law if isinstance(law, tuple) else _law_inputs(law)
        if "U" in names and self.U is None:
            raise DataError(f"law {_law_name(law)!r} needs a unique-tokens column U, which the data "
                            f"lack; name it with --u-col / u_col= (recognised: {', '.join(U_NAMES)})")
        return jnp.log(jnp.stack([jnp.asarray(self.column(n), dtype=jnp.float64) for n in names]))

    def subset(self, mask, label: str | None = None) -> "Dataset":
        """The rows where ``mask`` is true, revalidated."""
        mask = np.asarray(mask, dtype=bool)
        return from_arrays(self.N[mask], self.D[mask], self.loss[mask],
                           label=self.label if label is None else label,
                           U=None if self.U is None else self.U[mask])


def _law_inputs(law) -> tuple[str, ...]:
    from .laws import resolve

    return tuple(resolve(law).inputs)


def _law_name(law) -> str:
    from .laws import resolve

    return law if isinstance(law, (str, tuple)) else resolve(law).name


U_NAMES = ("unique_tokens", "U", "unique_tokens_U")  # named in messages; _ALIASES["U"] has them all


_ALIASES = {
    "N": ("n", "params", "parameters", "modelsize", "nparams", "numparams", "paramcount", "size",
          "nonembeddingparams", "model", "paramsn"),
    "D": ("d", "tokens", "trainingtokens", "ntokens", "numtokens", "data", "datasize", "tokenstrained",
          "tokensd"),
    "C": ("c", "flops", "flop", "compute", "trainingflop", "trainingflops", "trainingcompute"),
    "loss": ("loss", "finalloss", "valloss", "validationloss", "evalloss", "trainloss", "testloss"),
    "U": ("u", "uniquetokens", "uniquetokensu", "uniquetoken", "nuniquetokens", "numuniquetokens",
          "uniquedata", "uniquedatatokens", "uniquetrainingtokens"),
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _find_column(columns: Sequence[str], role: str, explicit: str | None) -> str | None:
    if explicit is not None:
        if explicit not in columns:
            raise DataError(
                f"column {explicit!r} (given for {role}) not found; columns are {list(columns)}"
            )
        return explicit
    for alias in _ALIASES[role]:
        for c in columns:
            if _norm(c) == alias:
                return c
    return None


def _to_float(values, column: str, row_offset: int = 0) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise DataError(
                f"column {column!r} must be numeric; row {i + row_offset} has {v!r}"
            ) from None
    return out


def _check_values(x: np.ndarray, column: str, row_offset: int) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise DataError(
            f"column {column!r} must be finite; {idx.size} bad rows (NaN or inf), "
            f"first at row {idx[0] + row_offset} (value {x[idx[0]]})"
        )
    bad = x <= 0
    if bad.any():
        idx = np.flatnonzero(bad)
        raise DataError(
            f"column {column!r} must be > 0; {idx.size} bad rows, first at row {idx[0] + row_offset} "
            f"(value {x[idx[0]]})"
        )


def validate(N, D, loss, *, names=("N", "D", "loss"), row_offset: int = 0, min_points: int = MIN_POINTS):
    """Check arrays for length, finiteness, positivity and design; return float64 copies.

    ``row_offset`` shifts reported row numbers (a CSV reports file lines).
    """
    arrays = []
    for x, name in zip((N, D, loss), names):
        a = np.asarray(x)
        if a.ndim != 1:
            raise DataError(f"{name!r} must be one-dimensional; got shape {a.shape}")
        if a.dtype.kind not in "fiu":
            a = _to_float(list(a), name, row_offset)
        arrays.append(a.astype(np.float64))
    lengths = {name: a.shape[0] for a, name in zip(arrays, names)}
    if len(set(lengths.values())) != 1:
        raise DataError(f"columns must have the same length; got {lengths}")
    n = arrays[0].shape[0]
    if n == 0:
        raise DataError("no data: 0 rows")
    for a, name in zip(arrays, names):
        _check_values(a, name, row_offset)
    if n < min_points:
        raise DataError(
            f"need at least {min_points} points (5 free parameters + 1); got {n}"
        )
    if np.unique(arrays[0]).size < 2:
        raise DataError(
            f"need at least 2 distinct model sizes in {names[0]!r} to separate the N and D terms; "
            f"all {n} rows have N = {arrays[0][0]:g}"
        )
    return arrays


def _unique_tokens(U, n: int, name: str, row_offset: int) -> np.ndarray:
    """The unique-tokens column checked like the others: 1-D, numeric, n rows, finite and > 0."""
    a = np.asarray(U)
    if a.ndim != 1:
        raise DataError(f"{name!r} (unique tokens) must be one-dimensional; got shape {a.shape}")
    if a.dtype.kind not in "fiu":
        a = _to_float(list(a), name, row_offset)
    if a.shape[0] != n:
        raise DataError(f"columns must have the same length; got {n} rows of N, D and loss but "
                        f"{a.shape[0]} of {name!r} (unique tokens)")
    a = a.astype(np.float64)
    _check_values(a, name, row_offset)
    return a


def from_arrays(N, D=None, loss=None, *, C=None, U=None, flops_per_param_token=DEFAULT_FLOPS_PER_PARAM_TOKEN,
                label: str = "", row_offset: int = 0, names=None) -> Dataset:
    """Build a :class:`Dataset` from arrays: (N, D, loss), or (N, C, loss) with D = C / (k N).

    ``U`` (optional) holds the unique training tokens of each run; ``names`` may give a fourth name
    for it in messages.

    Examples:
        >>> ds = from_arrays([1e8, 2e8, 4e8, 1e8, 2e8, 4e8], C=[1e18] * 3 + [1e19] * 3,
        ...                  loss=[3.1, 3.0, 3.05, 2.8, 2.7, 2.72])
        >>> ds.n
        6
    """
    if loss is None:
        raise DataError("missing loss: pass loss=")
    if (D is None) == (C is None):
        raise DataError("pass exactly one of D (tokens) and C (compute)")
    if not flops_per_param_token > 0:
        raise DataError(f"flops_per_param_token must be > 0; got {flops_per_param_token}")
    second = D if D is not None else C
    names = tuple(names or ("N", "D" if D is not None else "C", "loss"))
    n_name, s_name, l_name = names[:3]
    N_, S_, L_ = validate(N, second, loss, names=(n_name, s_name, l_name), row_offset=row_offset)
    D_ = S_ if D is not None else S_ / (flops_per_param_token * N_)
    U_ = None if U is None else _unique_tokens(U, N_.shape[0], (names + ("U",))[3], row_offset)
    return Dataset(N_, D_, L_, label, U_)


def _columns_to_dataset(columns: Sequence[str], getter, *, n_col, d_col, compute_col, loss_col,
                        flops_per_param_token, label, row_offset, u_col=None) -> Dataset:
    nc = _find_column(columns, "N", n_col)
    uc = _find_column(columns, "U", u_col)
    U, un = (None, ()) if uc is None else (getter(uc), (uc,))
    lc = _find_column(columns, "loss", loss_col)
    dc = _find_column(columns, "D", d_col) if compute_col is None else None
    cc = _find_column(columns, "C", compute_col) if (d_col is None and dc is None) else None
    if nc is None:
        raise DataError(f"missing column for N (parameters); columns are {list(columns)}; "
                        "name one with --n-col / n_col")
    if lc is None:
        raise DataError(f"missing column for loss; columns are {list(columns)}; "
                        "name one with --loss-col / loss_col")
    if dc is None and cc is None:
        raise DataError(f"missing column for D (tokens) or C (compute); columns are {list(columns)}; "
                        "name one with --d-col or --compute-col")
    if dc is not None:
        return from_arrays(getter(nc), getter(dc), getter(lc), U=U, label=label, row_offset=row_offset,
                           names=(nc, dc, lc) + un)
    return from_arrays(getter(nc), None, getter(lc), C=getter(cc), U=U, label=label, row_offset=row_offset,
                       flops_per_param_token=flops_per_param_token, names=(nc, cc, lc) + un)


def from_csv(path_or_buffer, *, n_col=None, d_col=None, compute_col=None, loss_col=None, u_col=None,
             flops_per_param_token=DEFAULT_FLOPS_PER_PARAM_TOKEN, label: str | None = None) -> Dataset:
    """Load a CSV with a header row. Rows are reported by their line number in the file.

    Column names are recognised case- and punctuation-insensitively (params, tokens, flops,
    "Model Size", "Training FLOP", loss, unique_tokens, ...) unless given explicitly. Lines starting
    with ``#`` are comments. A unique-tokens column (``u_col``, or one named like ``unique_tokens``,
    ``U``, ``unique_tokens_U``) is optional.
    """
    if hasattr(path_or_buffer, "read"):
        text = path_or_buffer.read()
        name = "<buffer>"
    else:
        name = str(path_or_buffer)
        try:
            with open(path_or_buffer, newline="") as f:
                text = f.read()
        except FileNotFoundError:
            raise DataError(f"file not found: {name}") from None
        except IsADirectoryError:
            raise DataError(f"expected a CSV file, got a directory: {name}") from None
    lines = text.splitlines()
    skipped = 0
    while skipped < len(lines) and (not lines[skipped].strip() or lines[skipped].lstrip().startswith("#")):
        skipped += 1
    if skipped >= len(lines):
        raise DataError(f"empty file: {name} has no header and no rows")
    reader = csv.reader(io.StringIO("\n".join(lines[skipped:])))
    header = [h.strip() for h in next(reader)]
    rows = [r for r in reader if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"empty file: {name} has a header but no data rows")
    for i, r in enumerate(rows):
        if len(r) != len(header):
            raise DataError(f"row {i + skipped + 2} has {len(r)} fields; the header has {len(header)}")

    def getter(col):
        j = header.index(col)
        return _to_float([r[j].strip() for r in rows], col, row_offset=skipped + 2)

    return _columns_to_dataset(header, getter, n_col=n_col, d_col=d_col, compute_col=compute_col,
                               loss_col=loss_col, flops_per_param_token=flops_per_param_token,
                               label=name if label is None else label, row_offset=skipped + 2, u_col=u_col)


def from_dataframe(df, *, n_col=None, d_col=None, compute_col=None, loss_col=None, u_col=None,
                   flops_per_param_token=DEFAULT_FLOPS_PER_PARAM_TOKEN, label: str = "") -> Dataset:
    """Load from a pandas DataFrame (pandas is optional; only this function needs it).

    Rows are reported by their 0-based position.
    """
    columns = [str(c) for c in df.columns]
    if len(df) == 0:
        raise DataError("empty DataFrame: 0 rows")

    def getter(col):
        values = df[col].to_numpy()
        if values.dtype.kind not in "fiu":
            return _to_float(list(values), col)
        return values

    return _columns_to_dataset(columns, getter, n_col=n_col, d_col=d_col, compute_col=compute_col,
                               loss_col=loss_col, flops_per_param_token=flops_per_param_token,
                               label=label, row_offset=0, u_col=u_col)


def load(source, **kwargs) -> Dataset:
    """Load a Dataset from a CSV path, a DataFrame, a mapping of arrays, or a Dataset."""
    if isinstance(source, Dataset):
        return source
    if hasattr(source, "columns") and hasattr(source, "to_numpy"):
        return from_dataframe(source, **kwargs)
    if isinstance(source, dict):
        keys = list(source)

        def getter(col):
            return np.asarray(source[col])

        return _columns_to_dataset(keys, getter, n_col=kwargs.get("n_col"), d_col=kwargs.get("d_col"),
                                   compute_col=kwargs.get("compute_col"), loss_col=kwargs.get("loss_col"),
                                   flops_per_param_token=kwargs.get("flops_per_param_token",
                                                                    DEFAULT_FLOPS_PER_PARAM_TOKEN),
                                   label=kwargs.get("label", ""), row_offset=0, u_col=kwargs.get("u_col"))
    return from_csv(source, **kwargs)


def data_hash(data: Dataset) -> str:
    """SHA-256 of the float64 N, D and loss arrays (in that order, little-endian bytes), then U's
    when the data have unique tokens (so data without U hash as before)."""
    h = hashlib.sha256()
    for a in (data.N, data.D, data.loss) + (() if data.U is None else (data.U,)):
        h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    return h.hexdigest()


def chinchilla_design(budgets=(6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21),
                      sizes_per_budget: int = 9, span: float = 10.0,
                      law=None, flops_per_param_token=DEFAULT_FLOPS_PER_PARAM_TOKEN):
    """An isoFLOP design like Chinchilla's: at each budget, model sizes log-spaced around N_opt.

    Sizes span a factor ``span`` (total, centred on the law's compute-optimal N) at each budget.
    Returns (N, D) numpy arrays.
    """
    from .laws import HOFFMANN_2022
    from .prediction import allocate

    law = HOFFMANN_2022 if law is None else law
    n_opt = np.asarray(allocate(law, np.asarray(budgets, dtype=np.float64), flops_per_param_token).N_opt)
    Ns, Ds = [], []
    for C, n in zip(budgets, n_opt):
        N = n * np.logspace(-0.5 * math.log10(span), 0.5 * math.log10(span), sizes_per_budget)
        Ns.append(N)
        Ds.append(C / (flops_per_param_token * N))
    return np.concatenate(Ns), np.concatenate(Ds)


def simulate(key, law, N, D, noise: float, label: str = "synthetic", *, U=None) -> Dataset:
    """Simulate losses from ``law`` (scalar leaves) with Gaussian noise of sd ``noise`` on log loss.

    Args:
        key: a JAX PRNG key.
        law: the true law.
        N, D: the design (a law that reads C gets C = 6 N D).
        U: unique tokens, for laws that read them.
        noise: standard deviation of the noise on log loss (0 for exact values).

    Returns:
        A validated :class:`Dataset`.
    """
    from .laws import inputs_for

    N = np.asarray(N, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    U = None if U is None else np.asarray(U, dtype=np.float64)
    inputs = inputs_for(type(law), N=N, D=D, U=U)
    log_l = law.log_loss(*(jnp.asarray(x) for x in inputs))
    eps = jax.random.normal(key, log_l.shape, dtype=jnp.float64)
    loss = np.asarray(jnp.exp(log_l + noise * eps))
    return from_arrays(N, D, loss, U=None if U is None else np.broadcast_to(U, N.shape), label=label)


def example_data() -> Dataset:
    """The embedded example: SYNTHETIC data from Hoffmann et al.'s published law.

    81 runs on a Chinchilla-like isoFLOP design (9 budgets from 6e18 to 3e21 FLOP, 9 sizes each),
    losses from E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28 with Gaussian noise of sd 0.005 on
    log loss, seed 0 (see ``scripts``-free regeneration in ``bayes_scaling/_example.py``).
    These are not real training runs.
    """
    text = resources.files("bayes_scaling").joinpath("example_data.csv").read_text()
    return from_csv(io.StringIO(text), label="SYNTHETIC example (Hoffmann et al. 2022 law + noise)")
