"""``fbench trace show``: which tests reach which functions, from the plugin's records."""

from __future__ import annotations

import click
import msgspec

from orchestrator.errors import RecordsReadError
from orchestrator.pipeline.traces import FunctionCallers, TestCalls, TraceIndex, load_index


@click.group()
def trace() -> None:
    """Look into records written by ``pytest -p featurebench --fb-trace``."""


@trace.command("show")
@click.argument("records", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--function", "function", metavar="NAME", help="List the tests that reach NAME.")
@click.option("--test", "nodeid", metavar="NODEID", help="Show one test.")
@click.option("--json", "as_json", is_flag=True, help="Print the same as JSON data.")
def show(records: tuple[str, ...], function: str | None, nodeid: str | None, as_json: bool) -> None:
    """Print each test with the project functions it reaches.

    RECORDS are one or more files, for instance one per xdist worker.
    """
    if function and nodeid:
        raise click.UsageError("give --function or --test, not both")
    index = load_index(records)
    if not index.traced:
        raise RecordsReadError(
            f"{' '.join(records)}: no traces in these records (written without --fb-trace);"
            " record them with pytest -p featurebench --fb-out FILE --fb-trace"
        )
    if function:
        _emit(index.callers(function), as_json, _format_callers)
    elif nodeid:
        _emit([index.test(nodeid)], as_json, _format_tests)
    else:
        _emit(index, as_json, _format_index)


def _emit(data: object, as_json: bool, formatter: object) -> None:
    if as_json:
        plain = msgspec.to_builtins(data, enc_hook=None)
        click.echo(msgspec.json.format(msgspec.json.encode(_named_calls(plain)), indent=2).decode())
    else:
        click.echo(formatter(data))  # type: ignore[operator]


def _named_calls(data: object) -> object:
    """Calls are compact ``[path, qualname, line, depth]`` rows in records; name them in JSON."""
    if isinstance(data, dict):
        return {
            key: [_call_dict(row) for row in value] if key in _CALL_LISTS else _named_calls(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [_named_calls(item) for item in data]
    return data


_CALL_LISTS = ("calls", "import_time")


def _call_dict(row: list[object]) -> dict[str, object]:
    return dict(zip(("path", "qualname", "line", "depth"), row, strict=True))


def _format_index(index: TraceIndex) -> str:
    text = _format_tests(sorted(index.tests.values(), key=lambda test: test.nodeid))
    lines = [f"import time ({len(index.import_time)} functions)"]
    lines += [f"      {call.key}" for call in index.import_time]
    return text + "\n" + "\n".join(lines)


def _format_tests(tests: list[TestCalls]) -> str:
    lines = ["depth  function (depth 1: called by the test itself)"]
    for test in tests:
        lines.append(f"{test.nodeid}  {test.outcome}  ({len(test.calls)} functions)")
        lines += [f"  {call.depth:>3}  {call.key}" for call in test.calls]
    return "\n".join(lines)


def _format_callers(found: list[FunctionCallers]) -> str:
    lines = ["depth  test (depth 1: the test calls the function itself)"]
    for entry in found:
        lines.append(f"{entry.key}  reached by {len(entry.tests)} tests")
        lines += [f"  {reach.depth:>3}  {reach.nodeid}" for reach in entry.tests]
    return "\n".join(lines)
