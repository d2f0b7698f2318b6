"""One table type and one JSON encoder for every result the package reports.

A :class:`Table` holds named numpy columns of one common shape (the query shape: budgets, points,
regions, ...) plus metadata (``level``, ``title``, ``notes`` and anything a method adds). Columns are
read with ``table["name"]`` (a read-only numpy array); rows with ``table[i]`` or by iterating, as
JSON-safe dicts. :func:`jsonable` is the only place where numbers become JSON: NaN becomes ``null``,
+-inf become ``"inf"``/``"-inf"``, numpy and JAX scalars and arrays become Python numbers and lists;
:func:`dumps` never writes NaN or Infinity.
"""

from __future__ import annotations

import json
import math
from typing import Mapping, Sequence

import numpy as np

__all__ = ["Table", "jsonable", "dumps"]


def jsonable(obj):
    """Nested numpy/JAX scalars and arrays -> plain Python; NaN -> None; +-inf -> "inf"/"-inf"."""
    if isinstance(obj, Table):
        return obj.to_dict()
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        arr = np.asarray(obj)
        return jsonable(arr.item() if arr.ndim == 0 else arr.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    return obj


def dumps(obj, **kwargs) -> str:
    """``json.dumps(jsonable(obj))`` with ``allow_nan=False``: output is always strict JSON."""
    return json.dumps(jsonable(obj), allow_nan=False, **kwargs)


def _column(values) -> np.ndarray:
    """A column from a sequence that may hold None: floats (None -> NaN), bools, ints or objects."""
    vals = list(values)
    present = [v for v in vals if v is not None]
    if present and all(isinstance(v, (bool, np.bool_)) for v in present) and len(present) == len(vals):
        return np.array(vals, dtype=bool)
    if present and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                       for v in present):
        if len(present) == len(vals) and all(isinstance(v, (int, np.integer)) for v in present):
            return np.array(vals, dtype=np.int64)
        return np.array([np.nan if v is None else float(v) for v in vals], dtype=np.float64)
    out = np.empty(len(vals), dtype=object)
    out[:] = vals
    return out


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return "-" if math.isnan(v) else f"{v:.5g}"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return str(v)


class Table:
    """Named columns of one common shape, with metadata.

    Build from columns (``Table({"compute": C, "N_opt": n}, level=0.9)``) or from rows
    (:meth:`from_rows`). ``table["col"]`` is a read-only numpy array of the table's shape;
    ``table[i]`` and iteration give JSON-safe row dicts over the flattened shape. Convert with
    :meth:`to_records`, :meth:`to_dict`, :meth:`to_json` or :meth:`to_pandas` (pandas optional).

    Examples:
        >>> t = Table.from_rows([{"region": "all", "n_points": 240}], meta={"method": "point"})
        >>> t["n_points"].tolist(), len(t), t[0]["region"]
        ([240], 1, 'all')
    """

    __slots__ = ("_columns", "meta")

    def __init__(self, columns: Mapping[str, object], *, level: float | None = None, title: str = "",
                 notes=(), meta: Mapping | None = None):
        cols = {}
        shape = None
        for name, value in columns.items():
            arr = np.array(value)
            if shape is None:
                shape = arr.shape
            elif arr.shape != shape:
                raise ValueError(f"Table column {name!r} has shape {arr.shape}; expected {shape}")
            arr.setflags(write=False)
            cols[name] = arr
        self._columns = cols
        self.meta = {**dict(meta or {}), "level": level, "title": title, "notes": list(notes)}

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping], columns: Sequence[str] | None = None,
                  meta: Mapping | None = None) -> "Table":
        """A one-dimensional table from row dicts (missing or None cells become NaN / None)."""
        rows = [dict(r) for r in rows]
        if columns is None:
            columns = []
            for r in rows:
                columns.extend(k for k in r if k not in columns)
        meta = dict(meta or {})
        t = cls({c: _column([r.get(c) for r in rows]) if rows else np.zeros(0) for c in columns},
                level=meta.pop("level", None), title=meta.pop("title", ""), notes=meta.pop("notes", ()),
                meta=meta)
        return t

    # ------------------------------------------------------------------ access

    @property
    def level(self):
        return self.meta.get("level")

    @property
    def title(self) -> str:
        return self.meta.get("title", "")

    @property
    def notes(self) -> tuple:
        return tuple(self.meta.get("notes", ()))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._columns)

    @property
    def shape(self) -> tuple[int, ...]:
        first = next(iter(self._columns.values()), np.zeros(0))
        return first.shape

    def __len__(self) -> int:
        return int(np.prod(self.shape, dtype=int))

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                return self._columns[key]
            except KeyError:
                raise KeyError(f"no column {key!r}; columns are {list(self._columns)}") from None
        return self.rows[key]

    def __contains__(self, name) -> bool:
        return name in self._columns

    def __iter__(self):
        return iter(self.rows)

    @property
    def rows(self) -> list[dict]:
        """One JSON-safe dict per row (flattened shape)."""
        flat = {k: v.reshape(-1) for k, v in self._columns.items()}
        return [{k: jsonable(v[i]) for k, v in flat.items()} for i in range(len(self))]

    # ------------------------------------------------------------------ conversion

    def to_records(self) -> list[dict]:
        return self.rows

    def to_dict(self) -> dict:
        """``{**meta, "columns": [...], "rows": [...]}`` as JSON-safe values."""
        return jsonable({**self.meta, "columns": list(self.columns), "rows": self.rows})

    def to_json(self, **kwargs) -> str:
        return dumps(self.to_dict(), **kwargs)

    def to_pandas(self):
        """A ``pandas.DataFrame`` (one row per flattened query point); metadata in ``df.attrs``."""
        import pandas as pd

        df = pd.DataFrame({k: v.reshape(-1) for k, v in self._columns.items()})
        df.attrs.update(jsonable(self.meta))
        return df

    def format(self, columns: Sequence[str] | None = None) -> str:
        """A fixed-width text rendering of ``columns`` (default: all but all-empty ones)."""
        flat = {k: v.reshape(-1) for k, v in self._columns.items()}
        if columns is None:
            columns = [k for k, v in flat.items()
                       if not (v.dtype.kind == "f" and v.size and np.all(np.isnan(v)))]
        columns = list(columns)
        cells = [[_fmt(flat[c][i]) for c in columns] for i in range(len(self))]
        widths = [max([len(c), 11] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
        lines += ["  ".join(x.rjust(w) for x, w in zip(row, widths)) for row in cells]
        return "\n".join(lines)

    def __str__(self) -> str:
        head = [self.title] if self.title else []
        if self.level is not None:
            head.append(f"(median estimate, {self.level:.0%} central interval over samples)")
        omitted = [k for k, v in self._columns.items()
                   if v.dtype.kind == "f" and v.size and np.all(np.isnan(v))]
        tail = list(self.notes) + ([f"(no values, omitted: {', '.join(omitted)})"] if omitted else [])
        return "\n".join(head + [self.format()] + tail)

    def __repr__(self) -> str:
        return f"Table(shape={self.shape}, columns={list(self._columns)})"
