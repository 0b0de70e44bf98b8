"""The ``mlflow`` sink: every event to an MLflow tracking store, by default a local one.

Optional (``pip install 'pytest-featurebench[mlflow]'``, mlflow-skinny). Each
featurebench run is one MLflow run, continued by ``--resume`` (its id is kept
in ``metadata_outputs/mlflow_run_id``); a metric is ``STAGE/NAME`` for the
whole run and ``STAGE/SPEC/NAME`` for one spec. Without ``MLFLOW_TRACKING_URI``
the store is ``metadata_outputs/mlruns``, files only, no server and no network
(MLflow's usage telemetry is off unless ``MLFLOW_DISABLE_TELEMETRY`` says otherwise).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.pipeline.storage import write_atomic
from orchestrator.watch import WHOLE_RUN, Event

EXPERIMENT = "featurebench"


class MlflowSink:
    def __init__(self, metadata: Path) -> None:
        self._client = _client(metadata)
        self._run_id = self._run(metadata)
        self._steps: dict[str, int] = {}

    def _run(self, metadata: Path) -> str:
        kept = metadata / "mlflow_run_id"
        if kept.is_file():
            return kept.read_text(encoding="utf-8").strip()
        found = self._client.get_experiment_by_name(EXPERIMENT)
        experiment = found.experiment_id if found else self._client.create_experiment(EXPERIMENT)
        run = self._client.create_run(experiment, run_name=str(metadata.parent))
        write_atomic(kept, run.info.run_id.encode())
        return str(run.info.run_id)

    def write(self, events: Sequence[Event]) -> None:
        from mlflow.entities import Metric

        metrics = [
            Metric(_key(e), e.value, int(e.time * 1000), self._step(_key(e))) for e in events
        ]
        self._client.log_batch(self._run_id, metrics=metrics)  # synchronous: on disk on return

    def _step(self, key: str) -> int:
        self._steps[key] = self._steps.get(key, -1) + 1
        return self._steps[key]

    def close(self) -> None:
        self._client.set_terminated(self._run_id)


def _key(event: Event) -> str:
    spec = "" if event.spec == WHOLE_RUN else f"{event.spec}/"
    return f"{event.stage}/{spec}{event.name}"


def _client(metadata: Path) -> Any:
    # MLflow 3 reports usage to its makers unless told not to; a run's metrics stay here.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UsageError(
            "sink mlflow: mlflow is not installed; pip install 'pytest-featurebench[mlflow]'"
        ) from None
    uri = os.environ.get("MLFLOW_TRACKING_URI") or (metadata / "mlruns").resolve().as_uri()
    if uri.startswith("file:"):  # MLflow 3 asks for this to use its local file store
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri)
