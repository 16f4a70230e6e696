"""A compute service's own Prometheus metrics, served on ``metrics_port`` when its settings name one.

Tasks executed by outcome, the Tasks running now (a gauge labelled with each one's ScopedKey, 1 while
it runs), and the simulation speed of the last result for every unit output named ``*ns_per_day``
(the built-in hydration protocol reports ``vacuum_ns_per_day`` and ``solvent_ns_per_day``).
Each service has a registry of its own, so several services in one process keep apart.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

SPEED_SUFFIX = "ns_per_day"


def speed_outputs(chain_json: list) -> Iterator[tuple[str, float]]:
    """``(output name, value)`` of every numeric ``*ns_per_day`` unit output in a ProtocolDAGResult keyed chain."""
    for entry in chain_json:
        keyed_dict: Any = entry[1] if isinstance(entry, (list, tuple)) and len(entry) == 2 else None
        outputs = keyed_dict.get("outputs") if isinstance(keyed_dict, dict) else None
        if not isinstance(outputs, dict):
            continue
        for name, value in outputs.items():
            if name.endswith(SPEED_SUFFIX) and isinstance(value, (int, float)) and not isinstance(value, bool):
                yield name, float(value)


class ServiceMetrics:
    def __init__(self, compute_service_id: str):
        self.registry = CollectorRegistry()
        labels = {"compute_service_id": compute_service_id}
        self.tasks = Counter(
            "alchemiscale_service_tasks", "Tasks this service executed, by outcome (completed, failed, not_pushed).",
            ["outcome"], registry=self.registry,
        )
        self.current = Gauge(
            "alchemiscale_service_current_task", "1 for each Task this service is running now.",
            ["task"], registry=self.registry,
        )
        self.speed = Gauge(
            "alchemiscale_service_ns_per_day", "Simulation speed reported by the last result, by unit output.",
            ["output"], registry=self.registry,
        )
        self.info = Gauge("alchemiscale_service_info", "Always 1; labelled with the service id.",
                          list(labels), registry=self.registry)
        self.info.labels(**labels).set(1)
        self._server = None

    def serve(self, host: str, port: int) -> int:
        """Start the HTTP endpoint; returns the port bound (``port`` 0 picks a free one)."""
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        return self._server.server_port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def started(self, task: str) -> None:
        self.current.labels(task=task).set(1)

    def finished(self, task: str, outcome: str, chain_json: Optional[list] = None) -> None:
        try:
            self.current.remove(task)
        except KeyError:
            pass
        self.tasks.labels(outcome=outcome).inc()
        for name, value in speed_outputs(chain_json or []):
            self.speed.labels(output=name).set(value)
