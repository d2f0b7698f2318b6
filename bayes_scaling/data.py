"""Data layer: load (N, D, loss[, U]) from CSV, arrays or a DataFrame, validated on the host.

Every loader returns a :class:`Dataset` of float64 numpy arrays that has passed :func:`validate`.
Errors say what was expected, what arrived, and which column or row (a CSV's rows by their line in
the file; reading, decoding and delimiter detection live in :mod:`bayes_scaling.csv_io`). An
optional unique-tokens column U (the repeated-data runs of Muennighoff et al. 2023) is recognised by
name or given explicitly (``u_col=``, ``--u-col``); a law that reads U is refused on data without it.

Exact duplicate rows (every input column and the loss equal) are refused, naming the rows, unless a
loader is given ``allow_duplicates=True`` (CLI ``--allow-duplicates``): a run logged twice counts
twice in every fit and narrows the bootstrap interval as if it were new evidence.
:meth:`Dataset.subset` and :func:`simulate` keep duplicates (see there). A run selection
(:mod:`bayes_scaling.selection`: ``where=``, ``best_over=``, ``last_checkpoint_by=``) is applied to a
table's rows before they are validated, so duplicates are judged on the rows it keeps.
"""

from __future__ import annotations

import hashlib
import io
import math
from importlib import resources
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .csv_io import U_NAMES, DataError, check_finite
from .csv_io import find_column as _find_column
from .csv_io import row_number as _row
from .csv_io import to_float as _to_float
from .checks import check_key

__all__ = [
    "Dataset",
    "DataError",
    "check_seed",
    "duplicate_rows",
    "from_arrays",
    "from_csv",
    "from_dataframe",
    "from_table",
    "load",
    "simulate",
    "example_data",
    "data_hash",
    "chinchilla_design",
    "DEFAULT_FLOPS_PER_PARAM_TOKEN",
    "DEFAULT_LEVEL",
]

DEFAULT_FLOPS_PER_PARAM_TOKEN = 6.0
DEFAULT_LEVEL = 0.9  # the central interval level of every command (--level) that does not ask for another
MIN_POINTS = 6  # the Chinchilla law has 5 free parameters; a fit needs at least 5 + 1 points.
MAX_SEED = 2**63 - 1  # a seed becomes a JAX key through int64


def check_seed(seed, name: str = "seed") -> int:
    """An integer seed in 0..2**63-1 as an ``int``; anything else raises ``ValueError`` naming it.

    Examples:
        >>> check_seed(7)
        7
        >>> check_seed(2**70)
        Traceback (most recent call last):
        ...
        ValueError: seed must be an integer in 0..2**63-1 (9223372036854775807); got 1180591620717411303424
    """
    ok = isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and 0 <= int(seed) <= MAX_SEED
    if not ok:
        raise ValueError(f"{name} must be an integer in 0..2**63-1 ({MAX_SEED}); got {seed!r}")
    return int(seed)


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
        """The rows where ``mask`` is true, revalidated (duplicates were judged when the data loaded,
        so a subset keeps any that were allowed)."""
        mask = np.asarray(mask, dtype=bool)
        return from_arrays(self.N[mask], self.D[mask], self.loss[mask],
                           label=self.label if label is None else label,
                           U=None if self.U is None else self.U[mask], allow_duplicates=True)


def _law_inputs(law) -> tuple[str, ...]:
    from .laws import resolve

    return tuple(resolve(law).inputs)


def _law_name(law) -> str:
    from .laws import resolve

    return law if isinstance(law, (str, tuple)) else resolve(law).name


def _check_values(x: np.ndarray, column: str, row_offset, text=None) -> None:
    check_finite(x, column, row_offset, text)  # text: the cells as read, so 1e400 is not shown as inf
    bad = x <= 0
    if bad.any():
        idx = np.flatnonzero(bad)
        raise DataError(f"column {column!r} must be > 0; {idx.size} bad rows, first at row "
                        f"{_row(row_offset, idx[0])} (value {x[idx[0]]})")


def validate(N, D, loss, *, names=("N", "D", "loss"), row_offset=0, min_points: int = MIN_POINTS):
    """Check arrays for length, finiteness, positivity and design; return float64 copies.

    ``row_offset`` shifts reported row numbers, or is an array giving each row's number (a CSV
    reports file lines).
    """
    arrays, texts = [], []
    for x, name in zip((N, D, loss), names):
        a = np.asarray(x)
        if a.ndim != 1:
            raise DataError(f"{name!r} must be one-dimensional; got shape {a.shape}")
        texts.append(a)
        if a.dtype.kind not in "fiu":
            a = _to_float(list(a), name, row_offset)
        arrays.append(a.astype(np.float64))
    lengths = {name: a.shape[0] for a, name in zip(arrays, names)}
    if len(set(lengths.values())) != 1:
        raise DataError(f"columns must have the same length; got {lengths}")
    n = arrays[0].shape[0]
    if n == 0:
        raise DataError("no data: 0 rows")
    for a, name, text in zip(arrays, names, texts):
        _check_values(a, name, row_offset, text)
    if n < min_points:
        raise DataError(f"need at least {min_points} points (5 free parameters + 1); got {n}")
    if np.unique(arrays[0]).size < 2:
        raise DataError(
            f"need at least 2 distinct model sizes in {names[0]!r} to separate the N and D terms; "
            f"all {n} rows have N = {arrays[0][0]:g}"
        )
    return arrays


def _unique_tokens(U, n: int, name: str, row_offset) -> np.ndarray:
    """The unique-tokens column checked like the others: 1-D, numeric, n rows, finite and > 0."""
    a = text = np.asarray(U)
    if a.ndim != 1:
        raise DataError(f"{name!r} (unique tokens) must be one-dimensional; got shape {a.shape}")
    if a.dtype.kind not in "fiu":
        a = _to_float(list(a), name, row_offset)
    if a.shape[0] != n:
        raise DataError(f"columns must have the same length; got {n} rows of N, D and loss but "
                        f"{a.shape[0]} of {name!r} (unique tokens)")
    a = a.astype(np.float64)
    _check_values(a, name, row_offset, text)
    return a


def duplicate_rows(data: Dataset) -> list:
    """Groups of exact duplicate rows: 0-based index arrays of rows whose N, D, loss (and U) are all
    equal, each group in row order, groups ordered by their first row. ``[]`` when every row is unique.

    Examples:
        >>> ds = from_arrays([1e8, 2e8, 1e8, 4e8, 8e8, 1e9, 1e8], [1e9] * 7,
        ...                  [3.0, 2.9, 3.0, 2.8, 2.7, 2.6, 3.0], allow_duplicates=True)
        >>> [g.tolist() for g in duplicate_rows(ds)]
        [[0, 2, 6]]
    """
    cols = [data.N, data.D, data.loss] + ([] if data.U is None else [data.U])
    order = np.lexsort(cols[::-1])  # equal rows become neighbours (O(n log n), no (n, n) table)
    same = np.all(np.stack([c[order][1:] == c[order][:-1] for c in cols]), axis=0)
    if not same.any():
        return []
    gid = np.cumsum(np.r_[True, ~same]) - 1
    member = np.bincount(gid)[gid] > 1
    rows, gid = order[member], gid[member]
    rows, gid = rows[np.lexsort((rows, gid))], np.sort(gid)
    groups = np.split(rows, np.flatnonzero(np.diff(gid)) + 1)
    return sorted(groups, key=lambda g: g[0])


def _refuse_duplicates(ds: Dataset, names, row_offset) -> None:
    groups = duplicate_rows(ds)
    if not groups:
        return
    extra = sum(len(g) - 1 for g in groups)
    shown = [f"{_row(row_offset, i)} = {_row(row_offset, g[0])}" for g in groups for i in g[1:]]
    more = f" and {extra - 5} more" if extra > 5 else ""
    raise DataError(f"{extra} exact duplicate rows (same {', '.join(repr(n) for n in names)}): row "
                    f"{', row '.join(shown[:5])}{more}; a repeated run would count twice; drop them, "
                    "or keep them with --allow-duplicates (allow_duplicates=True)")


def _check_range(D, N, k, names, row_offset) -> None:
    """D (from C / (k N)) and the compute k N D must stay finite and > 0 in float64."""
    with np.errstate(over="ignore", under="ignore"):
        C = k * N * D
    bad = ~(np.isfinite(D) & (D > 0) & np.isfinite(C) & (C > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{int(bad.sum())} rows leave the float64 range: at row {_row(row_offset, i)} "
                        f"{names[0]!r} = {N[i]:g} and tokens D = {D[i]:g} give compute {k:g} N D = "
                        f"{C[i]:g}; express N and D in plain counts (parameters, tokens)")


def _check_unique_within_total(U, D, u_name, d_name, row_offset) -> None:
    """A run sees at most its total tokens as unique tokens: U <= D (a relative 1e-9 allows the
    rounding of a D derived from compute)."""
    bad = U > D * (1 + 1e-9)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"column {u_name!r} (unique tokens U) must be <= the tokens D ({d_name!r}): a "
                        f"run cannot see more unique tokens than it trains on; {int(bad.sum())} bad rows, "
                        f"first at row {_row(row_offset, i)} (U = {U[i]:g}, D = {D[i]:g})")


def from_arrays(N, D=None, loss=None, *, C=None, U=None, flops_per_param_token=DEFAULT_FLOPS_PER_PARAM_TOKEN,
                label: str = "", row_offset=0, names=None, allow_duplicates: bool = False) -> Dataset:
    """Build a :class:`Dataset` from arrays: (N, D, loss), or (N, C, loss) with D = C / (k N).

    ``U`` (optional) holds the unique training tokens of each run; ``names`` may give a fourth name
    for it in messages. Exact duplicate rows raise :class:`DataError` naming them unless
    ``allow_duplicates`` is true; values whose compute k N D (or D = C / (k N)) overflows or
    underflows float64 are refused, and so is a U above D.

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
    with np.errstate(over="ignore", under="ignore"):
        D_ = S_ if D is not None else S_ / (flops_per_param_token * N_)
    _check_range(D_, N_, flops_per_param_token, names, row_offset)
    U_ = None if U is None else _unique_tokens(U, N_.shape[0], (names + ("U",))[3], row_offset)
    if U_ is not None:
        _check_unique_within_total(U_, D_, (names + ("U",))[3], s_name if D is not None else
                                   f"D = {s_name} / ({flops_per_param_token:g} {n_name})", row_offset)
    ds = Dataset(N_, D_, L_, label, U_)
    if not allow_duplicates:
        _refuse_duplicates(ds, (names + ("U",))[:4] if U_ is not None else names[:3], row_offset)
    return ds


def _columns_to_dataset(columns: Sequence[str], getter, *, n_col, d_col, compute_col, loss_col,
                        flops_per_param_token, label, row_offset, u_col=None,
                        allow_duplicates: bool = False, usable=None) -> Dataset:
    nc = _find_column(columns, "N", n_col, usable)
    uc = _find_column(columns, "U", u_col, usable)
    U, un = (None, ()) if uc is None else (getter(uc), (uc,))
    lc = _find_column(columns, "loss", loss_col, usable)
    dc = _find_column(columns, "D", d_col, usable) if compute_col is None else None
    cc = _find_column(columns, "C", compute_col, usable) if (d_col is None and dc is None) else None
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
                           names=(nc, dc, lc) + un, allow_duplicates=allow_duplicates)
    return from_arrays(getter(nc), None, getter(lc), C=getter(cc), U=U, label=label, row_offset=row_offset,
                       flops_per_param_token=flops_per_param_token, names=(nc, cc, lc) + un,
                       allow_duplicates=allow_duplicates)


def from_table(table, *, n_col=None, d_col=None, compute_col=None, loss_col=None, u_col=None,
               flops_per_param_token=DEFAULT_FLOPS_PER_PARAM_TOKEN, label: str | None = None,
               allow_duplicates: bool = False, where=(), best_over=None, last_checkpoint_by=None,
               run_cols=None, steps_out: list | None = None) -> Dataset:
    """A :class:`Dataset` from a :class:`~bayes_scaling.selection.Table`, after an optional run selection.

    ``where``, ``best_over``, ``last_checkpoint_by`` and ``run_cols`` select rows first
    (:func:`bayes_scaling.selection.select`); the label then says what each step kept, and the steps
    are appended to ``steps_out`` when it is given. Rows are reported by the table's row numbers (a
    CSV's lines). Exact duplicates are judged on the rows that remain.
    """
    from .selection import select, selection_label

    cols = dict(n_col=n_col, d_col=d_col, compute_col=compute_col, loss_col=loss_col, u_col=u_col)
    total = table.n
    table, steps = select(table, where, best_over, last_checkpoint_by, run_cols, **cols)
    if steps_out is not None:
        steps_out.extend(steps)
    name = selection_label(table.name or "data", steps, table.n, total) if label is None and steps else \
        (table.name if label is None else label)

    # the cells as read: validate() converts them, naming the column and row of a bad one
    return _columns_to_dataset(table.header, table.column, flops_per_param_token=flops_per_param_token,
                               label=name, row_offset=table.rows, allow_duplicates=allow_duplicates,
                               usable=table.holds_numbers, **cols)


def from_csv(path_or_buffer, **kwargs) -> Dataset:
    """Load a CSV with a header row. Rows are reported by their line number in the file.

    Column names are recognised case- and punctuation-insensitively (params, tokens, flops,
    "Model Size", "Training FLOP", loss, unique_tokens, ...) unless given explicitly (``n_col``,
    ``d_col``, ``compute_col``, ``loss_col``, ``u_col``). Lines starting with ``#`` are comments. A
    unique-tokens column (named like ``unique_tokens``, ``U``, ``unique_tokens_U``) is optional. The
    file is UTF-8 (a byte-order mark is fine), its delimiter a comma, semicolon or tab (detected), its
    line endings LF or CRLF (:func:`bayes_scaling.csv_io.read_table`). Exact duplicate rows are refused,
    naming their lines, unless ``allow_duplicates``. A run selection (``where=["label=Cosine decay",
    "N<1e9"]``, ``best_over="peak_lr"``, ``last_checkpoint_by="step"``) applies first; the keywords
    are those of :func:`from_table`.
    """
    from .selection import Table

    if isinstance(path_or_buffer, (int, np.integer)) and not isinstance(path_or_buffer, bool):
        # open() would take it as a file descriptor, read it and close the caller's file
        raise TypeError(f"from_csv needs a path or a text buffer; got the int {path_or_buffer}")
    return from_table(Table.read(path_or_buffer), **kwargs)


def from_dataframe(df, **kwargs) -> Dataset:
    """Load from a pandas DataFrame (pandas is optional; only this function needs it).

    Rows are reported by their 0-based position; keywords are those of :func:`from_table` (exact
    duplicates are refused unless ``allow_duplicates``; a run selection applies first).
    """
    from .selection import Table

    return from_table(Table.read(df), **kwargs)


def load(source, **kwargs) -> Dataset:
    """Load a Dataset from a CSV path, a DataFrame, a mapping of arrays, or a Dataset.

    Keywords are those of :func:`from_table` (``allow_duplicates=True`` keeps exact duplicate rows;
    ``where=``, ``best_over=``, ``last_checkpoint_by=`` select runs first); a Dataset is returned as
    it is.
    """
    if isinstance(source, Dataset):
        return source
    if hasattr(source, "columns") and hasattr(source, "to_numpy"):
        return from_dataframe(source, **kwargs)
    if isinstance(source, dict):
        from .selection import Table

        return from_table(Table.from_columns(source), **kwargs)
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
    sizes = getattr(law, "design_optimal_size", None)  # a law's own float64 expression, if it has one
    if sizes is not None:
        n_opt = sizes(budgets, flops_per_param_token)
    else:
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
        A validated :class:`Dataset`. Duplicates are kept (``allow_duplicates=True``): rows with noise
        are distinct draws, and a noise-free simulation of a design that repeats a point repeats its
        loss by construction, which is the design asked for, not a logging error.
    """
    from .laws import inputs_for

    check_key(key)
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0 (the sd of log loss); got {noise!r}")
    N = np.asarray(N, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    U = None if U is None else np.asarray(U, dtype=np.float64)
    if N.ndim != 1 or N.shape != D.shape:
        raise ValueError(f"N and D must be 1-D arrays of one length; got shapes {N.shape} and {D.shape}")
    inputs = inputs_for(type(law), N=N, D=D, U=U)
    log_l = law.log_loss(*(jnp.asarray(x) for x in inputs))
    eps = jax.random.normal(key, log_l.shape, dtype=jnp.float64)
    loss = np.asarray(jnp.exp(log_l + noise * eps))
    return from_arrays(N, D, loss, U=None if U is None else np.broadcast_to(U, N.shape), label=label,
                       allow_duplicates=True)


def example_data() -> Dataset:
    """The embedded example: SYNTHETIC data from Hoffmann et al.'s published law.

    81 runs on a Chinchilla-like isoFLOP design (9 budgets from 6e18 to 3e21 FLOP, 9 sizes each),
    losses from E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28 with Gaussian noise of sd 0.005 on
    log loss, seed 0 (see ``scripts``-free regeneration in ``bayes_scaling/_example.py``).
    These are not real training runs.
    """
    text = resources.files("bayes_scaling").joinpath("example_data.csv").read_text()
    return from_csv(io.StringIO(text), label="SYNTHETIC example (Hoffmann et al. 2022 law + noise)")
