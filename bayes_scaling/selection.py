"""Run selection: pick the runs a fit should see from a results table, counting what each step drops.

Real results tables hold more than one ladder of final losses: several configurations in one file
(Porian et al. 2024), every learning rate of a sweep (Li et al. 2025, "(Mis)Fitting"), every
checkpoint of every run (learning-curve tables). A selection is applied to the table's rows *before*
they become a :class:`~bayes_scaling.data.Dataset`, in this order:

1. ``where``: conditions ``COL=VALUE``, ``COL!=VALUE``, ``COL<VALUE``, ``COL<=VALUE``, ``COL>VALUE``,
   ``COL>=VALUE`` (all must hold). ``=`` and ``!=`` compare numbers when the column and the value are
   both numeric (``peak_lr=4e-3`` matches ``0.004``) and text otherwise, after stripping surrounding
   spaces (``label=Optimizer tuning (no decay)``); the order comparisons need a numeric column.
   A NaN or inf in a numeric column that any step reads is refused, naming the column and row, not
   dropped as failing a comparison; ``COL!=nan`` (or ``COL!=inf``) drops such rows explicitly.
2. ``last_checkpoint_by=COL``: keep each run's last row by a step or token column. A *run* is the
   rows sharing the values of ``run_cols``; by default N (and U where present) and every text column
   (a model or run name, a sweep id). Two rows of one run at the same step mean the run columns merge
   different runs, and are refused, naming the columns to add (``run_cols=``, ``--run-cols``).
3. ``best_over=COL``: for each (N, D), and U where present, keep the row with the lowest loss over the
   values of COL (the best learning rate of a sweep). Ties at the minimum keep the first row in file
   order, and are counted; so are groups in which COL repeats (repeated runs, or a logging error).

Exact duplicate rows are judged on what the selection keeps: rows it drops never reach a fit, so they
cannot count twice (a best-over that keeps one of two tied rows reports the tie).

Examples:
    >>> t = Table.from_columns({"N": [1, 1, 2, 2], "D": [5, 5, 5, 5], "loss": [3.0, 2.9, 2.8, 2.85],
    ...                         "lr": [1e-3, 2e-3, 1e-3, 2e-3]})
    >>> kept, steps = select(t, best_over="lr")
    >>> kept.column("lr").tolist(), [(s.kept, s.dropped) for s in steps]
    ([0.002, 0.001], [(2, 2)])
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple, Sequence

import numpy as np

from .csv_io import DataError, check_finite, check_header, find_column, read_table, row_number

__all__ = ["Condition", "Step", "Table", "Roles", "parse_condition", "select", "filter_where",
           "keep_best_over", "keep_last_checkpoint", "roles", "describe_steps", "selection_label"]

_OP = re.compile(r"^(.*?)(<=|>=|!=|==|=|<|>)(.*)$", re.DOTALL)
_ORDER_OPS = ("<", "<=", ">", ">=")


class Condition(NamedTuple):
    """One ``where`` condition: column, operator (``= != < <= > >=``) and the value as typed."""

    column: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.column} {self.op} {self.value}"


class Step(NamedTuple):
    """What one selection step did: its description, rows kept and dropped, and notes (ties etc.)."""

    what: str
    kept: int
    dropped: int
    notes: tuple = ()

    def as_dict(self) -> dict:
        return {"step": self.what, "kept": self.kept, "dropped": self.dropped, "notes": list(self.notes)}


class Table(NamedTuple):
    """A results table as columns of raw values (text from a CSV), with each row's reported number.

    Attributes:
        name: where the table came from (a file name), for messages and labels.
        columns: ``{name: 1-D object or float array}``, all of one length, in file order.
        rows: the number each row is reported by (a CSV's line in the file; else the 0-based position).
    """

    name: str
    columns: dict
    rows: np.ndarray

    @classmethod
    def from_columns(cls, columns, name: str = "", rows=None) -> "Table":
        cols = {str(k): np.asarray(v) for k, v in dict(columns).items()}
        n = len(next(iter(cols.values()))) if cols else 0
        lengths = {k: len(v) for k, v in cols.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(f"columns must have the same length; got {lengths}")
        return cls(name, cols, np.arange(n) if rows is None else np.asarray(rows))

    @classmethod
    def read(cls, source) -> "Table":
        """A table from a CSV path or file object (:func:`~bayes_scaling.csv_io.read_table`), a pandas
        DataFrame, or a mapping of columns."""
        if hasattr(source, "columns") and hasattr(source, "to_numpy"):
            if len(source) == 0:
                raise DataError("empty DataFrame: 0 rows")
            check_header([str(c) for c in source.columns], "DataFrame")
            return cls.from_columns({str(c): source[c].to_numpy() for c in source.columns})
        if isinstance(source, dict):
            return cls.from_columns(source)
        t = read_table(source)
        cols = {h: np.array([r[j].strip() for r in t.rows], dtype=object) for j, h in enumerate(t.header)}
        return cls(t.name, cols, t.lines)

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    @property
    def header(self) -> list:
        return list(self.columns)

    def take(self, idx) -> "Table":
        idx = np.asarray(idx)
        return Table(self.name, {k: v[idx] for k, v in self.columns.items()}, self.rows[idx])

    def column(self, name: str, why: str = "") -> np.ndarray:
        if name not in self.columns:
            for_ = f" (given for {why})" if why else ""
            raise DataError(f"unknown column {name!r}{for_}; columns are {self.header}")
        return self.columns[name]

    def numeric(self, name: str, why: str = "", finite: bool = True) -> np.ndarray:
        """The column as float64; a value that is not a number raises naming the column and row, and
        so does NaN or inf unless ``finite`` is false (a selection never drops bad data silently)."""
        values = self.column(name, why)
        if values.dtype.kind in "fiub":
            out = values.astype(np.float64)
        else:
            out, bad = _as_floats(values)
            if bad is not None:
                need = f"; {why} needs numbers" if why else ""
                raise DataError(f"column {name!r} must be numeric{need}; row {row_number(self.rows, bad)} "
                                f"has {values[bad]!r}")
        if finite:
            check_finite(out, name, self.rows, values, f" ({why} reads it)" if why else "")
        return out

    def holds_numbers(self, name: str) -> bool:
        """Whether any cell of the column is a finite number (a text column of names holds none)."""
        values = self.column(name)
        if values.dtype.kind in "fiub":
            return bool(np.isfinite(values.astype(np.float64)).any())
        for v in values:
            try:
                if math.isfinite(float(v)):
                    return True
            except (TypeError, ValueError):
                pass
        return False

    def is_numeric(self, name: str) -> bool:
        values = self.column(name)
        return values.dtype.kind in "fiub" or _as_floats(values)[1] is None


def _as_floats(values):
    """(float64 array, None) or (None, index of the first value that is not a number)."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            return None, i
    return out, None


def parse_condition(text) -> Condition:
    """``"COL<=VALUE"`` -> :class:`Condition`; a missing column, operator or value raises DataError.

    Examples:
        >>> parse_condition("label=Optimizer tuning (no decay)")
        Condition(column='label', op='=', value='Optimizer tuning (no decay)')
        >>> parse_condition("peak_lr <= 4e-3")
        Condition(column='peak_lr', op='<=', value='4e-3')
    """
    if isinstance(text, Condition):
        return text
    m = _OP.match(str(text))
    if not m or not m.group(1).strip() or not m.group(3).strip():
        raise DataError(f"--where {text!r}: expected COL=VALUE, COL!=VALUE or COL<VALUE, COL<=VALUE, "
                        "COL>VALUE, COL>=VALUE")
    op = "=" if m.group(2) == "==" else m.group(2)
    return Condition(m.group(1).strip(), op, m.group(3).strip())


def _values_hint(values) -> str:
    distinct = list(dict.fromkeys(str(v).strip() for v in values))
    shown = ", ".join(repr(v) for v in distinct[:8])
    return f"{len(distinct)} distinct values: {shown}" + (", ..." if len(distinct) > 8 else "")


def _mask(table: Table, cond: Condition) -> np.ndarray:
    values = table.column(cond.column, f"--where {cond}")
    try:
        number = float(cond.value)
    except ValueError:
        number = None
    if cond.op in _ORDER_OPS:
        if number is None or math.isnan(number):
            raise DataError(f"--where {cond}: {cond.op} compares numbers; expected a number after "
                            f"{cond.op!r}, got {cond.value!r}")
        x = table.numeric(cond.column, f"--where {cond}")
        return {"<": x < number, "<=": x <= number, ">": x > number, ">=": x >= number}[cond.op]
    if number is not None and table.is_numeric(cond.column):
        if math.isfinite(number):
            same = table.numeric(cond.column, f"--where {cond}") == number
        else:  # COL!=nan (or inf) drops such rows explicitly, counted like any condition
            x = table.numeric(cond.column, finite=False)
            same = np.isnan(x) if math.isnan(number) else x == number
    else:
        same = np.array([str(v).strip() == cond.value for v in values], dtype=bool)
    return same if cond.op == "=" else ~same


def filter_where(table: Table, conditions: Sequence) -> tuple[Table, list]:
    """The rows satisfying every condition, and one :class:`Step` per condition."""
    steps = []
    for c in conditions:
        cond = parse_condition(c)
        keep = _mask(table, cond)
        if not keep.any():
            raise DataError(f"--where {cond} keeps none of the {table.n} rows; column {cond.column!r} "
                            f"has {_values_hint(table.column(cond.column))}")
        steps.append(Step(f"where {cond}", int(keep.sum()), int((~keep).sum())))
        table = table.take(np.flatnonzero(keep))
    return table, steps


def _key_ids(table: Table, cols) -> np.ndarray:
    """An integer id per row for the combination of ``cols`` values (numeric columns compared as numbers)."""
    if not cols:
        return np.zeros(table.n, dtype=np.int64)
    parts = []
    for c in cols:
        v = table.numeric(c) if table.is_numeric(c) else np.array([str(x).strip() for x in table.column(c)])
        parts.append(np.unique(v, return_inverse=True)[1].reshape(-1))
    return np.unique(np.stack(parts, axis=1), axis=0, return_inverse=True)[1].reshape(-1)


class Roles(NamedTuple):
    """The columns that play N, D (or C), U and loss in a table (None where absent)."""

    N: str
    D: str
    U: str | None
    loss: str


def roles(table: Table, *, n_col=None, d_col=None, compute_col=None, loss_col=None, u_col=None) -> Roles:
    """Which columns are N, D (or compute), U and loss, found as the data layer finds them."""
    h, ok = table.header, table.holds_numbers
    nc, lc, uc = (find_column(h, "N", n_col, ok), find_column(h, "loss", loss_col, ok),
                  find_column(h, "U", u_col, ok))
    dc = find_column(h, "D", d_col, ok) if compute_col is None else None
    if dc is None and d_col is None:
        dc = find_column(h, "C", compute_col, ok)
    missing = [r for r, c in (("N (parameters)", nc), ("D (tokens) or C (compute)", dc), ("loss", lc)) if c is None]
    if missing:
        raise DataError(f"missing column for {missing[0]}; columns are {h}; name it with --n-col, --d-col, "
                        "--compute-col or --loss-col")
    return Roles(nc, dc, uc, lc)


def keep_last_checkpoint(table: Table, by: str, run_cols=None, *, roles_: Roles) -> tuple[Table, Step]:
    """Each run's last row by the numeric column ``by`` (a step or token count).

    A run is the rows sharing ``run_cols`` (default: N, U where present, and every text column).
    """
    step = table.numeric(by, f"--last-checkpoint-by {by}")
    if run_cols is None:
        skip = {by, roles_.loss}
        run_cols = [c for c in (roles_.N, roles_.U) if c is not None] + \
            [c for c in table.header if c not in skip and c not in (roles_.N, roles_.U) and not table.is_numeric(c)]
        how = "default: N, U and the text columns"
    else:
        run_cols = list(run_cols)
        for c in run_cols:
            table.column(c, "--run-cols")
        how = "--run-cols"
    run = _key_ids(table, run_cols)
    order = np.lexsort((step, run))
    same = (run[order][1:] == run[order][:-1]) & (step[order][1:] == step[order][:-1])
    if same.any():
        i, j = order[1:][same][0], order[:-1][same][0]
        others = [c for c in table.header if c not in run_cols and c not in (by, roles_.loss)]
        raise DataError(f"--last-checkpoint-by {by}: rows {row_number(table.rows, j)} and "
                        f"{row_number(table.rows, i)} are both at {by} = {step[i]:g} in one run "
                        f"(run = rows sharing {', '.join(run_cols) or 'nothing'}; {how}); name the columns "
                        f"that identify a run with --run-cols (run_cols=), e.g. from {others}")
    last = np.r_[run[order][1:] != run[order][:-1], True]
    keep = np.sort(order[last])
    note = (f"a run = rows sharing {', '.join(run_cols)}; {int(last.sum())} runs",)
    return table.take(keep), Step(f"last checkpoint by {by}", keep.size, table.n - keep.size, note)


def keep_best_over(table: Table, col: str, *, roles_: Roles) -> tuple[Table, Step]:
    """For each (N, D[, U]) the row with the lowest loss over the values of ``col``."""
    table.column(col, f"--best-over {col}")
    keys = [c for c in (roles_.N, roles_.D, roles_.U) if c is not None]
    for c in keys:
        table.numeric(c, f"--best-over {col}")
    loss = table.numeric(roles_.loss, f"--best-over {col}")
    group = _key_ids(table, keys)
    order = np.lexsort((np.arange(table.n), loss, group))  # per group: lowest loss, then file order
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    keep = np.sort(order[first])
    best = np.full(group.max() + 1, np.inf)
    np.minimum.at(best, group, loss)
    ties = np.bincount(group, weights=(loss == best[group]).astype(float)).astype(int)
    repeats = _key_ids(table, keys + [col])
    groups_with_repeats = np.unique(group[np.bincount(repeats)[repeats] > 1]).size
    notes = [f"{keep.size} groups of ({', '.join(keys)})"]
    if (ties > 1).any():
        notes.append(f"{int((ties > 1).sum())} groups had {int(ties[ties > 1].sum())} rows tied at the "
                     "lowest loss (the same loss logged more than once); kept the first in file order")
    if groups_with_repeats:
        notes.append(f"{groups_with_repeats} groups repeat a value of {col} (repeated runs or "
                     "duplicated rows); the lowest loss was taken over all their rows")
    return table.take(keep), Step(f"best over {col}", keep.size, table.n - keep.size, tuple(notes))


def select(table: Table, where: Sequence = (), best_over: str | None = None,
           last_checkpoint_by: str | None = None, run_cols=None, *, n_col=None, d_col=None,
           compute_col=None, loss_col=None, u_col=None) -> tuple[Table, list]:
    """Apply ``where``, then ``last_checkpoint_by``, then ``best_over`` (see the module docstring).

    The column keywords name N, D (or compute), loss and U as for :func:`bayes_scaling.data.from_csv`.
    Returns the selected table and one :class:`Step` per step. Raises :class:`DataError` naming the
    column and what was expected for an unknown column, a bad operator or a non-numeric comparison.
    """
    if isinstance(where, (str, Condition)):
        where = [where]
    table, steps = filter_where(table, where or ())
    if last_checkpoint_by is None and best_over is None:
        return table, steps
    r = roles(table, n_col=n_col, d_col=d_col, compute_col=compute_col, loss_col=loss_col, u_col=u_col)
    if last_checkpoint_by is not None:
        table, s = keep_last_checkpoint(table, last_checkpoint_by, run_cols, roles_=r)
        steps.append(s)
    if best_over is not None:
        table, s = keep_best_over(table, best_over, roles_=r)
        steps.append(s)
    return table, steps


def selection_label(name: str, steps, kept: int, total: int) -> str:
    """A data label that says what the selection kept: ``"runs.csv (best over lr: 81 of 261 rows)"``."""
    return f"{name} ({'; '.join(s.what for s in steps)}: {kept} of {total} rows)" if steps else name


def describe_steps(steps, total: int) -> list:
    """One line per step: ``"where label = X: kept 121, dropped 1624 (of 1745)"`` plus its notes."""
    lines, n = [], total
    for s in steps:
        notes = f" [{'; '.join(s.notes)}]" if s.notes else ""
        lines.append(f"selection: {s.what}: kept {s.kept}, dropped {s.dropped} (of {n}){notes}")
        n = s.kept
    return lines
