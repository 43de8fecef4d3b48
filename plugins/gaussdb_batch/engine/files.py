"""Files: read a file source's records for one interval into CSV blocks and rejects; no database.

A record that cannot be placed exactly (wrong number of fields, an interval value that is
missing or not a timestamp, bytes the database cannot store) becomes a reject naming its
file and line; it never shifts, turns into NULLs, vanishes, or fails the whole extract.
The landing stage COPYs the blocks; the plan stores the rejects.
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.spec import SourceSpec

log = logging.getLogger("gaussdb_batch.engine")

#: A record: its line (CSV) or row number (parquet), its texts in target column order ('' is NULL
#: in CSV), and what makes it unplaceable: None, a message, or (SQLSTATE, message).
Record = tuple[int, list[str | None], Any]


@dataclass(frozen=True)
class FileReject:
    """A record quarantined at extract: its landing seq, SQLSTATE, message and values as read."""

    seq: int
    sqlstate: str
    message: str
    values: dict[str, str | None]


@dataclass(frozen=True)
class FileSource:
    """What the reader needs of a batch: its file source, the target's columns, the rows per block."""

    batch: str
    source: SourceSpec
    columns: tuple[str, ...]
    block_rows: int


def file_blocks(src: FileSource, start: dt.datetime, end: dt.datetime,
                rejects: list[FileReject]) -> Iterator[io.BytesIO]:
    """CSV blocks (``seq`` first, then the columns) of at most block_rows rows (bounded memory)."""
    if src.source.files is None:
        raise PermanentBatchError(src.batch, "source.files is not set: the batch does not read files")
    pattern = src.source.files.format(start=start, end=end)
    paths = sorted(glob.glob(pattern))
    if not paths:
        log.warning("batch=%s: no file matches %s", src.batch, pattern)
    cols = list(src.columns)
    seq = 0
    for path in paths:
        records = (_parquet_records(src, path) if src.source.file_format == "parquet"
                   else csv_records(src.batch, path, cols))
        for block in _batches(records, src.block_rows):
            block = in_interval(src, block, start, end)
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            for line, texts, problem in block:
                seq += 1
                problem = problem or _bad_text(texts)
                if problem is not None:
                    state_code, message = problem if isinstance(problem, tuple) else ("22021", problem)
                    rejects.append(_file_reject(path, line, seq, cols, texts, message, state_code))
                    continue
                writer.writerow([seq, *("" if t is None else t for t in texts)])
            yield io.BytesIO(buf.getvalue().encode("utf-8", "surrogateescape"))


def csv_records(batch: str, path: str, cols: list[str]) -> Iterator[Record]:
    """(line, values in target column order, problem) per CSV record; '' is NULL."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        missing = [c for c in cols if c not in header]
        if missing:
            raise PermanentBatchError(batch, f"file {path} lacks target columns {missing}")
        where = [header.index(c) for c in cols]
        line = reader.line_num + 1
        for fields in reader:
            first, line = line, reader.line_num + 1
            if not fields:
                continue  # a blank line holds no record
            texts = [None if fields[i] == "" else fields[i] for i in where] if len(fields) == len(header) else None
            if texts is None:
                problem: Any = ("22P04", f"line {first}: {len(fields)} fields, the header has {len(header)}")
                texts = [None if i >= len(fields) or fields[i] == "" else fields[i] for i in where]
            else:
                problem = None
            yield first, texts, problem


def _parquet_records(src: FileSource, path: str) -> Iterator[Record]:
    import pyarrow.parquet as pq

    row = 0
    cols = list(src.columns)
    for batch in pq.ParquetFile(path).iter_batches(batch_size=src.block_rows):
        frame = batch.to_pandas()
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise PermanentBatchError(src.batch, f"file {path} lacks target columns {missing}")
        for values in frame[cols].itertuples(index=False, name=None):
            row += 1
            yield row, [None if _is_null(v) else str(v) for v in values], None


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    block: list[Record] = []
    for r in records:
        block.append(r)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


def in_interval(src: FileSource, block: list[Record], start: dt.datetime, end: dt.datetime) -> list[Record]:
    """The block's records inside [start, end); a missing or unparseable interval value is a problem."""
    ic = src.source.interval_column
    if ic is None:
        return block
    import pandas as pd

    cols = list(src.columns)
    at = cols.index(ic) if ic in cols else None
    if at is None:
        raise PermanentBatchError(src.batch, f"source.interval_column {ic!r} is not a target column")
    raw = [texts[at] for _, texts, _ in block]
    when = pd.to_datetime(pd.Series(raw, dtype=object), utc=True, errors="coerce", format="mixed")
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    out = []
    for (line, texts, problem), value, w in zip(block, raw, when):
        if problem is None and value is None:
            problem = ("22007", f"line {line}: interval column {ic} is empty: the row cannot be placed in an interval")
        elif problem is None and pd.isna(w):
            problem = ("22007", f"line {line}: interval column {ic} value {value!r} is not a timestamp")
        elif problem is None and not (lo <= w < hi):
            continue  # another interval's row
        out.append((line, texts, problem))
    return out


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _bad_text(texts: Sequence[str | None]) -> str | None:
    for t in texts:
        if t is None:
            continue
        if "\x00" in t:
            return "invalid byte sequence for encoding \"UTF8\": 0x00"
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:
            return "invalid byte sequence for encoding \"UTF8\""
    return None


def _file_reject(path: str, line: int, seq: int, cols: list[str], texts: list[str | None], message: str,
                 sqlstate: str = "22021") -> FileReject:
    printable = {c: (t.encode("utf-8", "backslashreplace").decode() if t else t) for c, t in zip(cols, texts)}
    where = "" if message.startswith("line ") else f"line {line}: "
    return FileReject(seq=seq, sqlstate=sqlstate, message=f"{where}{message} (file {path})", values=printable)
