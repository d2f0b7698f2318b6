"""Reading a CSV file into a header and rows of text, each row tagged with its line in the file.

The bytes are decoded as UTF-8, a byte-order mark tolerated (Excel writes one); a byte that is not
UTF-8 is reported with the file and the line it sits on. The delimiter is detected among comma,
semicolon and tab (the three that spreadsheet exports use); a header that splits on none of them is
refused with a message showing it. CRLF, CR and LF line endings all work. Blank lines and lines
starting with ``#`` are skipped. :mod:`bayes_scaling.data` turns the table into a validated
:class:`~bayes_scaling.data.Dataset`; this module knows nothing of scaling laws.
"""

from __future__ import annotations

import codecs
import csv
import re
from typing import NamedTuple, Sequence

import numpy as np

__all__ = ["DataError", "CSVTable", "DELIMITERS", "decode", "detect_delimiter", "read_table", "check_header",
           "find_column", "to_float", "check_finite", "row_number", "U_NAMES"]

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
_SAMPLE_LINES = 6  # header + 5 rows decide the delimiter


class DataError(ValueError):
    """Bad input data: the message names the column or row and what was expected."""


class CSVTable(NamedTuple):
    """A CSV file as text: its name, the header's column names, the rows, and each row's line number.

    Attributes:
        name: the file's path (``"<buffer>"`` for a file object).
        header: column names, stripped of surrounding spaces.
        rows: the data rows, lists of strings as long as the header.
        lines: the 1-based line in the file on which each row starts (int array).
        delimiter: the detected delimiter (``","``, ``";"`` or ``"\\t"``).
    """

    name: str
    header: list
    rows: list
    lines: np.ndarray
    delimiter: str


def _describe(header: str) -> str:
    return repr(header if len(header) <= 80 else header[:77] + "...")


def decode(raw: bytes, name: str) -> str:
    """UTF-8 text of ``raw`` without its byte-order mark; a bad byte names the file and its line.

    Examples:
        >>> decode(codecs.BOM_UTF8 + b"N,D,loss\\r\\n", "runs.csv")
        'N,D,loss\\r\\n'
        >>> decode(b"N,D,loss\\n1,2,caf\\xe9\\n", "runs.csv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bayes_scaling.csv_io.DataError: runs.csv line 2: not UTF-8 text (byte 0xe9 at column 8); ...
    """
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = bom + exc.start
        line = raw.count(b"\n", 0, at) + 1
        col = at - (raw.rfind(b"\n", 0, at) + 1) + 1
        raise DataError(f"{name} line {line}: not UTF-8 text (byte 0x{raw[at]:02x} at column {col}); "
                        "save the file as UTF-8") from None


def detect_delimiter(sample: list, name: str) -> str:
    """The delimiter of a file from its header and first rows: comma, semicolon or tab.

    The candidate that splits the header into at least two columns and gives the most rows of the
    header's width wins (then the widest header, then the order comma, semicolon, tab).

    Examples:
        >>> detect_delimiter(["N;D;loss", "1,5e8;2e9;3,1"], "runs.csv")
        ';'
    """
    best = None
    for d in DELIMITERS:
        widths = [len(r) for r in csv.reader(sample, delimiter=d)]
        if not widths or widths[0] < 2:
            continue
        score = (sum(w == widths[0] for w in widths[1:]), widths[0])
        if best is None or score > best[0]:
            best = (score, d)
    if best is None:
        header = sample[0] if sample else ""
        raise DataError(f"{name}: cannot find the delimiter: expected columns separated by comma, "
                        f"semicolon or tab; the header line is {_describe(header)}")
    return best[1]


def _text_of(path_or_buffer) -> tuple[str, str]:
    if hasattr(path_or_buffer, "read"):
        name = str(getattr(path_or_buffer, "name", "<buffer>"))
        content = path_or_buffer.read()
        if isinstance(content, bytes):
            return decode(content, name), name
        return content.removeprefix("\ufeff"), name
    name = str(path_or_buffer)
    try:
        with open(path_or_buffer, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"file not found: {name}") from None
    except IsADirectoryError:
        raise DataError(f"expected a CSV file, got a directory: {name}") from None
    return decode(raw, name), name


def _skip(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def read_table(path_or_buffer) -> CSVTable:
    """Read a CSV (path or file object, text or bytes) into a :class:`CSVTable`.

    Raises :class:`DataError` for a missing or empty file, a header alone, bytes that are not
    UTF-8, an undetectable delimiter and rows of the wrong width, naming the file and the line.
    """
    text, name = _text_of(path_or_buffer)
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if not _skip(ln)), None)
    if first is None:
        raise DataError(f"empty file: {name} has no header and no rows")
    sample = [ln for ln in lines[first:first + 4 * _SAMPLE_LINES] if not _skip(ln)][:_SAMPLE_LINES]
    delim = detect_delimiter(sample, name)
    reader = csv.reader(lines[first:], delimiter=delim)
    header = [h.strip() for h in next(reader)]
    rows, at = [], []
    start = first + reader.line_num + 1  # 1-based line of the next record
    for r in reader:
        if r and any(c.strip() for c in r) and not r[0].lstrip().startswith("#"):
            if len(r) != len(header):
                raise DataError(f"{name} row {start} has {len(r)} fields; the header has {len(header)} "
                                f"(delimiter: {DELIMITERS[delim]})")
            rows.append(r)
            at.append(start)
        start = first + reader.line_num + 1
    if not rows:
        raise DataError(f"empty file: {name} has a header but no data rows")
    check_header(header, name)
    return CSVTable(name, header, rows, np.asarray(at, dtype=np.int64), delim)


def check_header(header: Sequence[str], name: str) -> None:
    """Refuse a header that gives two columns one name (after stripping spaces): a table keyed by name
    would keep only the last of them. Unnamed (empty) columns cannot be referred to and are let be.

    Examples:
        >>> check_header(["params", "tokens", "loss", "loss"], "runs.csv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bayes_scaling.csv_io.DataError: runs.csv: the header names a column more than once: 'loss' ...
    """
    at: dict = {}
    for j, h in enumerate(header, 1):
        if h:
            at.setdefault(h, []).append(j)
    twice = [f"{h!r} (columns {', '.join(map(str, js[:-1]))} and {js[-1]})"
             for h, js in at.items() if len(js) > 1]
    if twice:
        raise DataError(f"{name}: the header names a column more than once: {'; '.join(twice)}; give each "
                        "column its own name")


# ------------------------------------------------------------ columns: names and numbers


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


_ROLES = {"N": ("N (parameters)", "--n-col / n_col="), "D": ("D (tokens)", "--d-col / d_col="),
          "C": ("C (compute)", "--compute-col / compute_col="),
          "loss": ("the loss", "--loss-col / loss_col="), "U": ("U (unique tokens)", "--u-col / u_col=")}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def find_column(columns: Sequence[str], role: str, explicit: str | None, usable=None) -> str | None:
    """The column that plays ``role`` (``"N"``, ``"D"``, ``"C"``, ``"loss"``, ``"U"``), or None.

    ``explicit`` (a flag's value) must be a column. Otherwise the column whose name is a recognised
    alias; when several are, those ``usable(column)`` rejects (a text column such as a model name)
    are set aside, and more than one left (or none) raises :class:`DataError` listing them and the
    flag that chooses one: no column is picked over another silently.

    Examples:
        >>> find_column(["params", "tokens", "train loss", "val loss"], "loss", None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bayes_scaling.csv_io.DataError: 2 columns could be the loss: 'train loss', 'val loss'; name ...
        >>> find_column(["N", "model", "D", "loss"], "N", None, usable=lambda c: c != "model")
        'N'
    """
    if explicit is not None:
        if explicit not in columns:
            raise DataError(
                f"column {explicit!r} (given for {role}) not found; columns are {list(columns)}"
            )
        return explicit
    found = [c for c in columns if _norm(c) in _ALIASES[role]]
    if len(found) < 2:
        return found[0] if found else None
    kept = [c for c in found if usable is None or usable(c)]
    if len(kept) == 1:
        return kept[0]
    what, flag = _ROLES[role]
    shown = ", ".join(repr(c) for c in (kept or found))
    raise DataError(f"{len(kept or found)} columns could be {what}: {shown}; name the one to use with {flag}")


def row_number(row_offset, i: int) -> int:
    """The reported number of row ``i``: ``i + row_offset``, or ``row_offset[i]`` for an array of
    line numbers (a CSV's)."""
    return int(row_offset[i]) if isinstance(row_offset, np.ndarray) else int(i) + row_offset


def check_finite(x: np.ndarray, column: str, row_offset=0, text=None, why: str = "") -> None:
    """Refuse NaN or inf in ``x`` (the float values of ``column``), naming the first bad row and the
    cell as the file wrote it (``text``, the raw values, when given: ``'1e400'`` rather than inf).
    ``why`` says what read the column (a run selection)."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    value = repr(text[i].strip()) if text is not None and isinstance(text[i], str) else x[i]
    raise DataError(f"column {column!r} must be finite{why}; {int(bad.sum())} bad rows (NaN or inf), "
                    f"first at row {row_number(row_offset, i)} (value {value}); fix them, or drop such rows "
                    f"with --where \"{column}!={x[i]:g}\" (where=)")


def to_float(values, column: str, row_offset=0) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            hint = "; decimal commas are not read: use a point" if isinstance(v, str) and \
                re.fullmatch(r"\s*[-+]?\d+,\d*([eE][-+]?\d+)?\s*", v) else ""
            raise DataError(
                f"column {column!r} must be numeric; row {row_number(row_offset, i)} has {v!r}{hint}"
            ) from None
    return out
