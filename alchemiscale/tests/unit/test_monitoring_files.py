"""The example Prometheus config and Grafana dashboard parse, and chart only metrics the code defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "devtools" / "monitoring"
METRIC_SOURCES = [ROOT / "alchemiscale" / "base" / "metrics.py", ROOT / "alchemiscale" / "compute" / "metrics.py"]
SAMPLE_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def defined_metrics() -> set[str]:
    names = set()
    for source in METRIC_SOURCES:
        names |= set(re.findall(r'"(alchemiscale_[a-z0-9_]+)"', source.read_text()))
    return names


def test_prometheus_config_scrapes_metrics_paths():
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["alchemiscale-api"]["metrics_path"] == "/metrics"
    assert jobs["alchemiscale-compute-api"]["metrics_path"] == "/metrics"
    assert jobs["alchemiscale-compute-services"]["static_configs"][0]["targets"]


def test_grafana_dashboard_charts_defined_metrics():
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\balchemiscale_[a-z0-9_]+", expr)}
    defined = defined_metrics()
    for name in used:
        base = next((name.removesuffix(s) for s in SAMPLE_SUFFIXES if name.endswith(s) and name.removesuffix(s) in defined), name)
        assert base in defined, f"the dashboard charts {name}, which no code defines"
    assert {"alchemiscale_tasks", "alchemiscale_http_requests", "alchemiscale_service_ns_per_day"} <= {
        next((n.removesuffix(s) for s in SAMPLE_SUFFIXES if n.endswith(s)), n) for n in used
    }
