"""Valid files of offline and LLM mode on real sdists, with a weak model's replies.

The loopback server (tests/support/llm_server.py) replays what a small model
did in issue 17: for top selection it names every other candidate by a near
miss (a bare method name, a module-qualified function), adds a shared base
class's constructor it was never offered, and for task statements describes
one interface of many and invents a method. Each spec runs ``fbench
build-cases`` offline, then in LLM mode on the same cache (the environments,
runs and traces are reused). Printed per spec: the valid files of each mode,
the offline-valid files LLM mode lost (the target is none), the files where the
offline choice made the case after the model's failed, the statements left
offline, and the prompt tokens per request. LLM mode runs with
``llm_prompt_for_case`` set, unless ``--no-statements``.

    python benchmarks/llm_weak_model.py [--specs specs/example_specs.py ...] [--work DIR]
        [--pick every-other|last] [--no-statements]

``--pick last`` selects only the farthest candidate of each batch, a choice
that seldom fails enough tests: the offline fallback has to make the cases.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.pipeline.specs import load_specs  # noqa: E402
from tests.support.llm_server import MODEL, default_answer, serve, stub_names  # noqa: E402

KEY_VARIABLE = "FB_BENCH_LLM_KEY"


PICKS = {
    "every-other": slice(None, None, 2),  # half the batch, nearest first
    "last": slice(-1, None),  # the farthest candidate alone: too few tests fail without it
}


def weak_model(body: dict[str, Any], pick: slice = PICKS["every-other"]) -> str:
    text = "\n".join(m["content"] for m in body["messages"])
    if '"selected"' in text:
        heads = [json.loads(h) for h in re.findall(r"^### (\{.*\})$", text, re.MULTILINE)]
        library = re.search(r"^Library: (\S+)", text, re.MULTILINE)
        names = ["Cache.__init__"]  # shared infrastructure, never offered
        for head in heads[pick]:
            qualname = head["qualname"]
            near = (
                qualname.rsplit(".", 1)[-1]
                if "." in qualname
                else f"{library and library.group(1)}.{qualname}"
            )
            names.append(near)
        return json.dumps({"selected": names, "reasons": {n: "looks related" for n in names}})
    if "task statements" in body["messages"][0]["content"]:
        first = (stub_names(text) or ["it"])[0]
        return (
            f"# The feature\n\nImplement `{first}` so that it works like an LRU cache,"
            " adding items with the `add` method and raising CacheFullError when full."
        )
    return default_answer(body)


def build(
    specs: Path, work: Path, cache: Path, name: str, config: Path | None, src: Path | None = None
) -> Path:
    """One run of ``fbench build-cases``; with ``src``, of the fbench in that source tree."""
    fbench = [str(Path(sys.executable).parent / "fbench")]
    if src is not None:
        code = f"import sys; sys.path.insert(0, {str(src)!r}); "
        code += "from orchestrator.cli import main; main()"
        fbench = [sys.executable, "-c", code]
    command = [*fbench, "build-cases", "--config-path", str(specs)]
    command += ["--output-dir", str(work / name), "--cache-dir", str(cache)]
    if config is not None:
        command += ["--global-config-path", str(config)]
    env = {**os.environ, KEY_VARIABLE: "bench-key"}
    subprocess.run(command, check=False, capture_output=True, env=env)
    (run,) = (work / name).glob("[0-9]*/*")  # not latest/, the link to it
    return run


def with_statements(specs: Path, work: Path) -> Path:
    """``specs`` as a .py specs file whose specs also have the model write task statements
    (``llm_prompt_for_case``), so the weak model's statements are checked too."""
    found = {s.name: msgspec.to_builtins(s.settings) for s in load_specs(specs)}
    for spec in found.values():
        local = specs.parent / str(spec.get("repository", ""))
        if local.exists():  # a path relative to the specs file: keep it pointing there
            spec["repository"] = str(local.resolve())
        spec["llm_prompt_for_case"] = True
    path = work / f"{specs.stem}_llm.py"
    path.write_text("".join(f"{name} = {spec!r}\n" for name, spec in found.items()))
    return path


def status(run: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((run / "metadata_outputs" / "data_status.json").read_text())
    return found


def valid(entry: dict[str, Any]) -> set[str]:
    return {path for path, e in entry["files"].items() if e["status"] == "valid"}


def noted(entry: dict[str, Any], text: str) -> int:
    return sum(1 for e in entry["files"].values() if any(text in n for n in e.get("notes", [])))


def report(offline: Path, llm: Path, server_calls: list[dict[str, Any]]) -> None:
    print(
        f"{'spec':<18} {'F2P':>4} {'offline':>8} {'LLM':>5} {'lost':>5}"
        f" {'top fallback':>13} {'data fallback':>14} {'statement offline':>18}"
    )
    llm_status = status(llm)
    for spec, entry in sorted(status(offline).items()):
        mine = llm_status.get(spec, {"files": {}})
        lost = valid(entry) - valid(mine)
        top = noted(mine, "the model's choice failed (top: ")  # data's notes say where
        print(
            f"{spec:<18} {entry['f2p_candidates']:>4} {len(valid(entry)):>8} {len(valid(mine)):>5}"
            f" {len(lost):>5} {top:>13}"
            f" {noted(mine, 'the offline choice made the case') - top:>14}"
            f" {noted(mine, 'offline task statement'):>18}"
        )
    tokens = [c["usage"]["prompt_tokens"] for c in server_calls if c.get("usage")]
    if tokens:
        mean = sum(tokens) / len(tokens)
        print(f"LLM requests {len(tokens)}, prompt tokens: mean {mean:.0f}, max {max(tokens)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=Path, nargs="+", default=[ROOT / "specs/example_specs.py"])
    parser.add_argument("--work", type=Path, default=None, help="keep the runs here")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: WORK/cache")
    parser.add_argument(
        "--before", type=Path, default=None, help="also run LLM mode with the fbench of this tree"
    )
    parser.add_argument(
        "--pick", choices=sorted(PICKS), default="every-other", help="what the model selects"
    )
    parser.add_argument(
        "--no-statements", action="store_true", help="LLM mode without llm_prompt_for_case"
    )
    options = parser.parse_args()
    work = options.work or Path(tempfile.mkdtemp(prefix="fb-llm-weak-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = options.cache_dir or work / "cache"
    with serve() as server:
        server.answer = functools.partial(weak_model, pick=PICKS[options.pick])
        config = work / "config.toml"  # the model's name has the pick: its own cached answers
        config.write_text(
            f'[llm]\nbase_url = "{server.url}"\nmodel = "{MODEL}-{options.pick}"\n'
            f'api_key_env = "{KEY_VARIABLE}"\nconcurrency = 2\n'
        )
        for specs in options.specs:
            offline = build(specs, work, cache, f"offline-{specs.stem}", None)
            asked = specs if options.no_statements else with_statements(specs, work)
            llm = build(asked, work, cache, f"llm-{specs.stem}", config)
            calls = [
                json.loads(p.read_text()) for p in (llm / "logs" / "llm_api_calls").glob("*.json")
            ]
            report(offline, llm, calls)
            if options.before is not None:
                before = build(specs, work, cache, f"before-{specs.stem}", config, options.before)
                print(f"LLM mode of {options.before}:")
                report(offline, before, [])
    print(f"runs in {work}")


if __name__ == "__main__":
    main()
