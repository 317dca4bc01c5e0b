"""The one table-reading layer under every reader of :mod:`organoidrx.io`.

Opening (regular files only, gzip recognised by its content), decoding, the delimiter rule, header splitting, the
missing-value strings, column lookup and the delimited-table reader itself live here, so that every reader accepts
and refuses the same files with the same one-line messages.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import os
import re
import stat
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, BinaryIO, cast

import pandas as pd

from organoidrx._utils import InputError, examples

logger = logging.getLogger(__name__)

# Cells read as missing values: pandas' default strings plus "-" (the placeholder of NCBI, Excel exports and
# drug-screen tables) and "." (SAS and Stata exports of clinical tables). No gene, drug or sample is named "-"
# or ".", and neither is a number.
NA_VALUES: tuple[str, ...] = (
    "",
    "'--",  # GDC portal exports (clinical.tsv)
    "--",
    "\\N",  # SQL NULL of database dumps (the annotation rows of GDC manifests)
    ".",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
DELIMITERS = ("\t", ",", ";")
# A runs-of-whitespace delimiter, for STRING's space-separated downloads (a reader's default, never sniffed).
WHITESPACE = r"\s+"

_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_BYTES = 1 << 16
_MAX_HEAD_BYTES = 1 << 26
_SNIFF_LINES = 20
_QUOTED = re.compile(r'"(?:[^"]|"")*"')
_KEY_JUNK = re.compile(r"[\s_\-.#]+")
_SPECIAL_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


# --------------------------------------------------------------------------------------------------- opening
def display_name(path: str | os.PathLike[str]) -> str:
    """The file name messages start with (the path itself when it has no name part)."""
    return Path(path).name or str(path)


def check_regular_file(path: str | os.PathLike[str]) -> None:
    """Refuse a path that is missing or is not a regular file once symlinks are resolved, before reading a byte.

    Parameters
    ----------
    path : str or path-like
        The input file.

    Raises
    ------
    InputError
        The path does not exist, cannot be examined, is a folder, or is a device (``/dev/zero``,
        ``/dev/urandom``), a FIFO or a socket: reading those would never end or would fill the memory.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; check the path.") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc}).") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{path} is a folder, not a file; give the path of the table.")
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in _SPECIAL_KINDS if test(mode)), "a special file")
        target = os.path.realpath(path)
        where = f" {target}" if target != os.path.abspath(path) else ""
        raise InputError(
            f"{path} is not a regular file (it is {kind}{where}); give the path of a file saved on disk."
        )


def _gzip_error(name: str, exc: BaseException) -> InputError:
    return InputError(f"{name}: the gzip data is truncated or corrupt ({exc}); download the file again.")


@contextlib.contextmanager
def open_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """The file's bytes as a stream, gunzipped when the content is gzip data (whatever the file is called).

    The file is checked with :func:`check_regular_file` first. Gzip errors raised while the stream is read inside
    the ``with`` block become one :class:`InputError` line.
    """
    check_regular_file(path)
    name = display_name(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc}).") from None
    with handle:
        if handle.peek(2)[:2] != _GZIP_MAGIC:
            if str(path).endswith(".gz"):
                raise InputError(
                    f"{name}: the name ends in .gz but the content is not gzip data; rename or recompress it."
                )
            yield handle
            return
        try:
            with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
                yield cast(BinaryIO, stream)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise _gzip_error(name, exc) from None


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Whole file as bytes, gunzipped when it is gzip data; every failure is one :class:`InputError` line."""
    with open_file(path) as stream:
        return stream.read()


def _check_text(head: bytes, name: str) -> None:
    if head.startswith(b"PK\x03\x04"):
        raise InputError(f"{name}: a zip/Excel workbook is not supported; export the sheet as CSV or TSV.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export
        raise InputError(
            f"{name}: the file is UTF-16 (or UTF-32) text (it starts with that byte-order mark); save it as UTF-8."
        )
    if b"\x00" in head:
        raise InputError(
            f"{name}: the file looks binary (it contains NUL bytes), not a text table; check that it is the right file."
        )


def _encoding_name(encoding: str) -> str:
    return "UTF-8" if encoding.lower().replace("_", "-").startswith(("utf-8", "utf8")) else encoding


def read_text(path: str | os.PathLike[str], *, encoding: str = "utf-8-sig") -> str:
    """Whole file as text with ``\\n`` line ends (gzip handled, BOM removed).

    Raises
    ------
    InputError
        For everything :func:`open_file` refuses, a zip/Excel workbook, binary content (NUL bytes) or bytes that
        are not valid ``encoding`` text.
    """
    name = display_name(path)
    raw = read_bytes(path)
    _check_text(raw[:_HEAD_BYTES], name)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: the file is not valid {_encoding_name(encoding)} text (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8 or check that it is a text table."
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_head(path: str | os.PathLike[str], *, min_lines: int = 3, encoding: str = "utf-8-sig") -> str:
    """The first complete lines of a file as text, for sniffing and format detection.

    At least 64 KiB (or the whole file) and at least ``min_lines`` lines, however wide they are, up to 64 MiB;
    undecodable bytes are replaced (the full read reports them).

    Raises
    ------
    InputError
        For everything :func:`open_file` refuses, a zip/Excel workbook or binary content.
    """
    chunks: list[bytes] = []
    size = breaks = 0
    with open_file(path) as stream:
        while True:
            chunk = stream.read(_HEAD_BYTES)
            if not chunk:
                complete = True
                break
            chunks.append(chunk)
            size += len(chunk)
            breaks += chunk.count(b"\n") + chunk.count(b"\r")
            if (size >= _HEAD_BYTES and breaks >= min_lines) or size >= _MAX_HEAD_BYTES:
                complete = False
                break
    raw = b"".join(chunks)
    _check_text(raw[:_HEAD_BYTES], display_name(path))
    if not complete:
        raw = raw[: max(raw.rfind(b"\n"), raw.rfind(b"\r")) + 1] or raw
    return raw.decode(encoding, errors="replace").replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------------------------------- fields
def split_fields(line: str, sep: str) -> list[str]:
    """The fields of one delimited line, double quotes removed as a CSV reader does, with no field-size limit.

    ``sep`` is a delimiter character or :data:`WHITESPACE`. Quoted fields may hold the delimiter and ``""`` for a
    quote.
    """
    if sep == WHITESPACE:
        return line.split()
    if '"' not in line:
        return line.split(sep)
    fields: list[str] = []
    position, end = 0, len(line)
    while True:
        match = _QUOTED.match(line, position) if line.startswith('"', position) else None
        if match is not None:
            value = match.group()[1:-1].replace('""', '"')
            position = match.end()
        else:
            value = ""
        stop = line.find(sep, position)
        stop = end if stop < 0 else stop
        fields.append(value + line[position:stop].removeprefix('"' if match is None else ""))
        if stop >= end:
            return fields
        position = stop + len(sep)


def _count_fields(line: str, sep: str) -> int:
    if sep == WHITESPACE:
        return len(line.split())
    if '"' in line:
        line = _QUOTED.sub("", line)
    return line.count(sep) + 1


def sniff_delimiter(lines: Sequence[str], default: str) -> str:
    """The delimiter among tab, comma and semicolon that splits ``lines`` best; ``default`` when none does.

    The candidate that splits every line into the same number (> 1) of fields wins, the one with most fields
    when several do; else the first that splits every line into more than one field; else ``default``.
    """
    counts = {d: [_count_fields(line, d) for line in lines] for d in DELIMITERS}
    consistent = [(c[0], d) for d, c in counts.items() if c and c[0] > 1 and len(set(c)) == 1]
    if consistent:
        return max(consistent, key=lambda pair: pair[0])[1]
    return next((d for d, c in counts.items() if c and min(c) > 1), default)


def default_delimiter(path: str | os.PathLike[str]) -> str:
    """Comma for a ``.csv`` or ``.csv.gz`` name, else tab."""
    return "," if Path(path).name.lower().removesuffix(".gz").endswith(".csv") else "\t"


def read_header(
    path: str | os.PathLike[str], *, sep: str | None = None, default_sep: str | None = None
) -> list[str]:
    """The column names of a file's header line (whitespace and enclosing quotes stripped), read from its head.

    The delimiter is ``sep``, else sniffed as :func:`read_table` does, falling back to ``default_sep`` (default
    :func:`default_delimiter`).
    """
    return _header(path, sep=sep, default_sep=default_sep)[0]


def _header(
    path: str | os.PathLike[str], *, sep: str | None, default_sep: str | None
) -> tuple[list[str], str]:
    """The header's column names and the file's delimiter, from the first lines only."""
    lines = _first_lines(read_head(path))
    if not lines:
        raise InputError(f"{display_name(path)}: the file is empty; expected a table with a header line.")
    delimiter = sep if sep is not None else sniff_delimiter(lines, default_sep or default_delimiter(path))
    return [field.strip() for field in split_fields(lines[0], delimiter)], delimiter


def parse_header(
    lines: Sequence[str], *, sep: str | None = None, default_sep: str = "\t"
) -> tuple[list[str], str]:
    """Column names (whitespace-stripped) of the first of ``lines`` and the delimiter.

    Parameters
    ----------
    lines : sequence of str
        The non-blank lines of the start of a table, header first.
    sep : str, optional
        The delimiter; default :func:`sniff_delimiter` on the first 20 lines, falling back to ``default_sep``.
    default_sep : str, default "\\t"

    Returns
    -------
    names : list of str
        One per column. When the first data line has one field more than the header (R's ``write.table``
        omits the row-label column's name) an empty name is put first.
    sep : str
    """
    delimiter = sep if sep is not None else sniff_delimiter(lines[:_SNIFF_LINES], default_sep)
    names = [field.strip() for field in split_fields(lines[0], delimiter)]
    if len(lines) > 1 and _count_fields(lines[1], delimiter) == len(names) + 1:
        names = ["", *names]
    return names, delimiter


# --------------------------------------------------------------------------------------------------- columns
def column_key(name: object) -> str:
    """A column name compared case-insensitively, ignoring spaces, ``_``, ``-``, ``.`` and ``#``.

    >>> column_key("Drug Name"), column_key("#string_protein_id")
    ('drugname', 'stringproteinid')
    """
    return _KEY_JUNK.sub("", str(name)).lower()


def find_column(columns: Iterable[object], candidates: Sequence[str]) -> str | None:
    """The column that matches the first matching candidate (candidates in priority order), or ``None``.

    A candidate matches a column spelled exactly like it, else the first column (in file order) with the same
    :func:`column_key`.
    """
    names = [str(c) for c in columns]
    exact = set(names)
    by_key: dict[str, str] = {}
    for column in names:
        by_key.setdefault(column_key(column), column)
    for candidate in candidates:
        if candidate in exact:
            return candidate
        found = by_key.get(column_key(candidate))
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------------------------------- tables
def _first_lines(text: str, n: int = _SNIFF_LINES) -> list[str]:
    """The first ``n`` non-blank lines of ``text``, without splitting all of it."""
    lines: list[str] = []
    start = 0
    while len(lines) < n and start < len(text):
        stop = text.find("\n", start)
        stop = len(text) if stop < 0 else stop
        if text[start:stop].strip():
            lines.append(text[start:stop])
        start = stop + 1
    return lines


def _records(lines: Sequence[str], first: int) -> Iterator[tuple[int, str]]:
    """``(line number, record)`` of the non-blank records; a quoted field may hold line breaks."""
    record: list[str] = []
    quotes = start = 0
    for number, line in enumerate(lines, start=first):
        if not record:
            start = number
        record.append(line)
        quotes += line.count('"')
        if quotes % 2:
            continue
        joined = "\n".join(record) if len(record) > 1 else line
        record, quotes = [], 0
        if joined.strip():
            yield start, joined
    if record:
        raise ValueError(start)


def parse_table(
    text: str,
    *,
    name: str,
    sep: str | None,
    default_sep: str,
    skip_lines: int = 0,
    all_strings: bool = False,
    what: str = "sample",
) -> pd.DataFrame:
    """Parse a whole delimited table held as text, checking its shape first: the reader of labelled matrices.

    Parameters
    ----------
    text : str
        The file's content (``\\n`` line ends), as :func:`read_text` gives it.
    name : str
        The file name messages start with.
    sep : str or None
        Delimiter; ``None`` sniffs it (:func:`sniff_delimiter`) from the first 20 non-blank lines.
    default_sep : str
        Delimiter when sniffing finds none.
    skip_lines : int, default 0
        Lines before the header (GCT's version and size lines).
    all_strings : bool, default False
        Read every cell as a string; otherwise the first column (row labels) is read as strings and the others as
        numbers, the strings of :data:`NA_VALUES` being missing values.
    what : str, default "sample"
        What a column holds, for messages ("every sample column needs an id").

    Returns
    -------
    DataFrame
        Columns named as in the header (an empty first name when R's ``write.table`` omitted it).

    Raises
    ------
    InputError
        One line naming the file: empty, a single column (wrong delimiter), no data rows, a line or record whose
        field count differs from the header's, unclosed quotes, an empty or repeated column name, or cells pandas
        cannot parse. Fields of any length are accepted (wide headers of 10^6 samples included).
    """
    lines = text.split("\n")[skip_lines:]
    while lines and not lines[-1].strip():
        lines.pop()
    non_empty = _first_lines("\n".join(lines[: _SNIFF_LINES * 50]))
    if not non_empty:
        raise InputError(f"{name} is empty; it needs a header line of {what} ids and one row per gene.")
    names, delimiter = parse_header(non_empty, sep=sep, default_sep=default_sep)
    if len(names) < 2:
        shown = non_empty[0] if len(non_empty[0]) <= 60 else non_empty[0][:57] + "..."
        raise InputError(
            f"{name} parses as a single column with delimiter {delimiter!r} (header line {shown!r}); "
            "the delimiter looks wrong: write the file with tabs, commas or semicolons between the fields (in Python, "
            "sep='\\t', ',' or ';' names it)."
        )
    if len(non_empty) == 1:
        raise InputError(f"{name} has a header line but no data rows; it needs one row per gene.")
    width = len(names)
    rows: Iterator[tuple[int, str]]
    if '"' in text:
        rows = _records(lines, 1 + skip_lines)
    else:
        rows = ((number, line) for number, line in enumerate(lines, start=1 + skip_lines) if line.strip())
    try:
        next(rows, None)  # the header line
        for number, line in rows:
            n_fields = _count_fields(line, delimiter)
            if n_fields != width:
                raise InputError(
                    f"{name}: line {number} has {n_fields} fields but the header has {width}; "
                    "the file may be truncated or use a different delimiter there."
                )
    except InputError:  # a ValueError too: not the unclosed quote that _records signals
        raise
    except ValueError as exc:
        raise InputError(
            f"{name}: malformed quoting (the quoted field opened on line {exc.args[0]} is never closed); "
            "check the quote characters."
        ) from None
    empty = [i + 1 for i, label in enumerate(names[1:], start=1) if not label]
    if empty and not all_strings:
        raise InputError(f"{name}: column {empty[0]} has an empty header; every {what} column needs an id.")
    duplicated = pd.Index(names[1:])
    duplicated = duplicated[duplicated.duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"{name} has {len(duplicated)} duplicated column names (first: {examples(duplicated)}); "
            f"make {what} ids unique."
        )
    labels = [f"\x00col{i}" for i in range(width)]
    # as UTF-8 bytes: a StringIO holds 4 bytes per character, a BytesIO shares the encoded text (1 byte)
    content = "\n".join(lines).encode("utf-8")
    del lines
    table = _read_csv(
        io.BytesIO(content),
        name=name,
        sep=delimiter,
        labels=labels,
        strings=labels if all_strings else labels[:1],
        missing=() if all_strings else labels[1:],
    )
    table.columns = pd.Index(names)
    return table


def _read_csv(
    source: IO[str] | IO[bytes],
    *,
    name: str,
    sep: str,
    labels: Sequence[str],
    strings: Sequence[str],
    missing: Sequence[str],
    usecols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """pandas' C parser with this layer's settings; parse errors become one :class:`InputError` line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                source,
                sep=sep,
                header=0,
                names=list(labels),
                usecols=list(usecols) if usecols is not None else None,
                index_col=False,
                dtype=dict.fromkeys(strings, str),
                keep_default_na=False,
                na_values={label: list(NA_VALUES) for label in missing} if missing else None,
                float_precision="round_trip",
                skip_blank_lines=True,
                engine="c",
                low_memory=False,
            )
    except InputError:
        raise
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: the file is not valid UTF-8 text (byte {exc.object[exc.start]:#04x}: {exc.reason}); "
            "save it as UTF-8."
        ) from None
    except (
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        pd.errors.EmptyDataError,
        ValueError,
        OverflowError,
    ) as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{name}: cannot be parsed as a delimited table with delimiter {sep!r} ({message})."
        ) from None


def first_ragged_line(lines: Iterable[str], sep: str, width: int) -> tuple[int, int] | None:
    """``(line number, fields)`` of the first non-blank line after the header whose field count differs from
    ``width``, if any (lines holding quotes are skipped: a quoted field may hold the delimiter)."""
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if number == 1 or not line.strip() or '"' in line:
            continue
        n_fields = _count_fields(line, sep)
        if n_fields != width:
            return number, n_fields
    return None


def _first_ragged_line(path: str | os.PathLike[str], sep: str, width: int) -> tuple[int, int] | None:
    """:func:`first_ragged_line` of a file, read again line by line (for a table too large to hold as text)."""
    with open_file(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace") as source:
        return first_ragged_line(source, sep, width)


def read_table(
    path: str | os.PathLike[str],
    *,
    sep: str | None = None,
    default_sep: str | None = None,
    usecols: Sequence[str] | None = None,
    strings: bool | Sequence[str] = True,
) -> pd.DataFrame:
    """Read a delimited text table (optionally gzipped), streamed to pandas: the reader of long tables.

    Parameters
    ----------
    path : str or path-like
        The file; it names the table in messages and, without ``sep``, gives the default delimiter.
    sep : str, optional
        Delimiter (a character, or :data:`WHITESPACE`). Default: :func:`sniff_delimiter` on the first 20 lines.
    default_sep : str, optional
        Delimiter when sniffing finds none. Default: :func:`default_delimiter` (comma for ``.csv``, else tab).
    usecols : sequence of str, optional
        Names (as in the header, whitespace-stripped) of the columns to read; default all.
    strings : bool or sequence of str, default True
        ``True``: every cell is read as a string. A sequence: those columns are strings, the others are typed by
        pandas (numbers parsed exactly). The strings of :data:`NA_VALUES` are missing values in every column.

    Returns
    -------
    DataFrame
        Columns named as in the header, stripped of whitespace (and of enclosing quotes). Blank lines are skipped.

    Raises
    ------
    InputError
        One line naming the file: anything :func:`open_file` refuses, an empty file, binary content, repeated
        column names, or a table pandas cannot parse.

    Notes
    -----
    The file is never held whole as text: that is how multi-gigabyte STRING downloads are read.
    """
    name = display_name(path)
    names, delimiter = _header(path, sep=sep, default_sep=default_sep)
    repeated = pd.Index([n for n in names if n])
    repeated = repeated[repeated.duplicated()].unique()
    if len(repeated):
        raise InputError(
            f"{name} has {len(repeated)} duplicated column names (first: {examples(repeated)}); "
            "make the column names unique."
        )
    logger.debug("%s: delimiter %r, %d columns", name, delimiter, len(names))
    labels = [f"\x00col{i}" for i in range(len(names))]
    label_of = dict(zip(names, labels, strict=True))
    picked = names if usecols is None else list(usecols)
    unknown = [c for c in picked if c not in label_of]
    if unknown:
        raise InputError(f"{name}: no column {unknown[0]!r} (columns: {examples(names, 8)}).")
    text_columns = picked if strings is True else [c for c in (strings or ()) if c in picked]
    used = [label_of[c] for c in picked]
    try:
        with open_file(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig") as source:
            table = _read_csv(
                source,
                name=name,
                sep=delimiter,
                labels=labels,
                strings=[label_of[c] for c in text_columns],
                missing=used,
                # given usecols, pandas ignores surplus fields on a line: read them all when all are wanted
                usecols=used if usecols is not None and len(set(used)) < len(labels) else None,
            )
    except InputError as exc:  # name the line when the cause is a line wider than the header
        ragged = _first_ragged_line(path, delimiter, len(names))
        if ragged is None:
            raise
        number, n_fields = ragged
        raise InputError(
            f"{name}: line {number} has {n_fields} fields but the header has {len(names)}; "
            "the file may be truncated or use a different delimiter there."
        ) from exc
    if usecols is not None:
        table = table.loc[:, used]  # pandas returns the used columns in file order, not in usecols order
    table.columns = pd.Index(picked)
    return table
