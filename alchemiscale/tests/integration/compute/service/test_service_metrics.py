"""A compute service's own metrics endpoint and JSON logs, and the compute API's claim and result metrics."""

from __future__ import annotations

import json

import httpx

from alchemiscale.compute.metrics import speed_outputs
from alchemiscale.tests.integration.compute.conftest import compute_setup
from alchemiscale.tests.integration.test_observability import metric_value

from .conftest import make_service, service_in_thread, wait_for


def test_service_and_compute_api_count_tasks_claims_and_results(
    n4js_fresh, compute_identity, compute_api_url, network, scope_test, service_config
):
    names = sorted(t.name for t in network.edges if t.name.endswith("solvent"))[:1] + ["failing transformation"]
    setup = compute_setup(n4js_fresh, network, scope_test, names)
    before = httpx.get(f"{compute_api_url}/metrics").text
    service = make_service(service_config(metrics_port=0, n_retries=0, log_format="json", sleep_interval=0.2))
    with service_in_thread(service):
        wait_for(lambda: service.metrics_port, 30, "the metrics endpoint")
        wait_for(lambda: all(s != "waiting" and s != "running" for s in n4js_fresh.get_task_status(list(setup.tasks.values()))),
                 60, "both Tasks to finish")
        wait_for(lambda: service.tasks_executed == 2, 10, "both results pushed")
        own = httpx.get(f"http://127.0.0.1:{service.metrics_port}/metrics").text
        # store gauges are cached for ALCHEMISCALE_METRICS_CACHE_SECONDS: wait past a value cached before
        # the service registered
        wait_for(lambda: metric_value(httpx.get(f"{compute_api_url}/metrics").text, "alchemiscale_compute_services") >= 1,
                 30, "the compute services gauge to count the running service")
        after = httpx.get(f"{compute_api_url}/metrics").text

    assert metric_value(own, "alchemiscale_service_tasks_total", outcome="completed") == 1
    assert metric_value(own, "alchemiscale_service_tasks_total", outcome="failed") == 1
    assert metric_value(own, "alchemiscale_service_current_task") == 0  # nothing running now
    assert metric_value(own, "alchemiscale_service_info", compute_service_id=str(service.compute_service_id)) == 1

    def delta(name, **labels):
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta("alchemiscale_compute_tasks_claimed_total") == 2
    assert delta("alchemiscale_compute_results_uploaded_total", ok="true") == 1
    assert delta("alchemiscale_compute_results_uploaded_total", ok="false") == 1
    assert delta("alchemiscale_compute_result_bytes_count") == 2
    assert delta("alchemiscale_compute_result_bytes_sum") > 0
    # one service pushes one result at a time: each record goes to Neo4j alone
    assert delta("alchemiscale_store_batch_size_count", kind="results") == 2
    assert delta("alchemiscale_store_batch_size_sum", kind="results") == 2
    assert delta("alchemiscale_store_batch_size_sum", kind="upload_states") == 2
    assert delta("alchemiscale_store_batch_size_count", kind="claims") >= 1
    assert metric_value(after, "alchemiscale_compute_services") >= 1

    lines = [line for line in open(service.settings.logfile).read().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # one JSON object per line
    assert any("registered with" in e["message"] for e in entries)
    assert compute_identity[1] not in "\n".join(lines)


def test_speed_outputs_reads_ns_per_day_unit_outputs():
    chain = [
        ["ProtocolUnitResult-a", {"outputs": {"solvent_ns_per_day": 41.5, "dG": 1.0, "flag_ns_per_day": True}}],
        ["ProtocolUnitResult-b", {"outputs": {"vacuum_ns_per_day": 300}}],
        ["ProtocolDAGResult-c", {"name": "x"}],
    ]
    assert dict(speed_outputs(chain)) == {"solvent_ns_per_day": 41.5, "vacuum_ns_per_day": 300.0}
