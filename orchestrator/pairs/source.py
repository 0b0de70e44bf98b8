"""``--source``: Python files from a JSONL file, a Parquet file or a streamed Hugging Face dataset.

Each row holds one file's text in ``[pairs] source_column`` (and, optionally,
its path in ``source_path_column``). Rows are read one at a time (Parquet in
record batches, ``hf:`` through ``datasets`` with ``streaming=True``), so a
source far larger than memory is fine; ``source_max_rows`` bounds a run.
:func:`check_source` reads the first row before the run directory exists, so
a missing file, column or dataset is a one-line error and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.pairs.config import PairsConfig

KINDS = ("hf", "jsonl", "parquet")
FORMAT_HINT = "give --source hf:NAME, jsonl:PATH or parquet:PATH"


@dataclass(frozen=True)
class SourceFile:
    """One row of the source: a Python file."""

    index: int
    path: str  # the row's path column, else ``row-<index>.py``
    text: str

    @property
    def digest(self) -> str:
        """What the seed's ``commit`` records: the file's content, as git would not know it."""
        return "sha256:" + hashlib.sha256(self.text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Source:
    kind: str
    target: str  # a path (absolute) for files, a dataset name or directory for hf

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


def parse_source(text: str) -> Source:
    """``KIND:TARGET``; a local path is made absolute, so a resumed run reads the same file."""
    kind, sep, target = text.partition(":")
    if not sep or kind not in KINDS or not target.strip():
        raise UsageError(f"--source {text}: unknown source; {FORMAT_HINT}")
    if kind == "hf":
        return Source(kind, target.strip())
    return Source(kind, str(Path(target).expanduser().resolve()))


def check_source(source: Source, config: PairsConfig) -> None:
    """Read the first row now: a bad source fails before the run starts, in one line."""
    rows = read_rows(source, config)
    try:
        next(rows, None)
    finally:
        rows.close()


def source_files(source: Source, config: PairsConfig) -> Iterator[SourceFile]:
    """The rows as files, at most ``source_max_rows`` of them; rows without text are skipped."""
    rows = read_rows(source, config)
    try:
        for index, row in enumerate(itertools.islice(rows, config.source_max_rows)):
            text = row.get(config.source_column)
            if not isinstance(text, str) or not text.strip():
                continue
            path = row.get(config.source_path_column)
            yield SourceFile(index, str(path) if path else f"row-{index}.py", text)
    finally:
        rows.close()


Rows = Generator[dict[str, Any], None, None]


def read_rows(source: Source, config: PairsConfig) -> Rows:
    readers = {"jsonl": _jsonl_rows, "parquet": _parquet_rows, "hf": _hf_rows}
    return readers[source.kind](source, config)


def _jsonl_rows(source: Source, config: PairsConfig) -> Rows:
    first = True
    with _open(source) as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(
                    f"{source.target}: line {number} is not JSON ({exc.msg}); one object a line"
                ) from None
            if not isinstance(row, dict):
                raise UsageError(f"{source.target}: line {number} is not an object; one a line")
            if first:  # the schema: a later row without the column counts as one without text
                _checked(row, source, config, f"line {number}")
                first = False
            yield row


def _open(source: Source) -> Any:
    try:
        return open(source.target, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--source {source}: cannot read it ({exc.strerror})") from None


def _parquet_rows(source: Source, config: PairsConfig) -> Rows:
    try:
        import pyarrow.parquet as pq  # datasets' dependency
    except ImportError:
        raise UsageError(
            f"--source {source}: reading Parquet needs pyarrow;"
            " pip install 'pytest-featurebench[hf]'"
        ) from None

    try:
        parquet = pq.ParquetFile(source.target)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise UsageError(f"--source {source}: not a readable Parquet file ({exc})") from None
    names = parquet.schema_arrow.names
    if config.source_column not in names:
        raise _no_column(source, config, names)
    columns = [c for c in (config.source_column, config.source_path_column) if c in names]
    for batch in parquet.iter_batches(batch_size=256, columns=columns):
        yield from batch.to_pylist()


def _hf_rows(source: Source, config: PairsConfig) -> Rows:
    try:
        import datasets
    except ImportError:
        raise UsageError(
            f"--source {source}: needs the datasets library; pip install 'pytest-featurebench[hf]'"
        ) from None
    try:
        stream = datasets.load_dataset(source.target, split=config.source_split, streaming=True)
        rows = iter(stream)
        first = next(rows, None)
    except Exception as exc:  # the hub's and datasets' many errors; each says what went wrong
        raise UsageError(
            f"--source {source}: cannot stream split {config.source_split!r}"
            f" ({type(exc).__name__}: {_first_line(exc)}); check the name, the split"
            " ([pairs] source_split) and that the Hugging Face hub is reachable"
        ) from None
    if first is None:
        return
    yield _checked(first, source, config, "row 0")
    try:
        yield from rows
    except Exception as exc:  # the connection dropped mid-stream: the spec stops, and says why
        raise UsageError(
            f"--source {source}: the stream broke ({type(exc).__name__}: {_first_line(exc)});"
            " rerun with --resume once the hub is reachable"
        ) from None


def _checked(row: Any, source: Source, config: PairsConfig, where: str) -> dict[str, Any]:
    if config.source_column not in row:
        raise _no_column(source, config, list(row), where)
    return dict(row)


def _no_column(
    source: Source, config: PairsConfig, names: list[str], where: str = "the schema"
) -> UsageError:
    return UsageError(
        f"--source {source}: {where} has no column {config.source_column!r}"
        f" (it has {', '.join(map(str, names)) or 'none'}); set [pairs] source_column"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "no message"
