"""Fuzzing: schemathesis cases from both OpenAPI schemas against real servers holding real data.

The user API and the compute API run under uvicorn on the test Neo4j server and a local object
store filled by :func:`~alchemiscale.tests.integration.compute.dataset.populate_compute`
(networks, Tasks, results, registrations). Each API's schema is read from its own ``/openapi.json``;
every operation gets valid and invalid cases, sent with a valid token of the API's identity type.
Half of the path parameters naming a ScopedKey, service or manager are swapped for stored ones, so
cases reach real objects rather than only "not found".

Checked: no server error (a 5xx other than 503 with ``Retry-After``) and, for 2xx answers, a body
conforming to the response schema. ``ALCHEMISCALE_FUZZ_CASES`` is the budget per API: the suite
runs a small one; ``make fuzz`` runs 1,000 per API.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from alchemiscale.models import Scope
from alchemiscale.storage.objectstore import LocalObjectStore
from alchemiscale.tests.integration.compute.conftest import server_env
from alchemiscale.tests.integration.compute.dataset import COMPUTE_ENTITY, ComputeDataset, populate_compute
from alchemiscale.tests.integration.identities import bearer
from alchemiscale.tests.integration.interface.dataset import SECRET, token
from alchemiscale.tests.integration.servers import running_uvicorn

BUDGET = int(os.environ.get("ALCHEMISCALE_FUZZ_CASES", "150"))
TOKEN_SECONDS = 4 * 3600
APPS = {"user": "alchemiscale.interface.api:app", "compute": "alchemiscale.compute.api:app"}


@dataclass
class FuzzReport:
    api: str
    operations: int = 0
    operations_reached: set[str] = field(default_factory=set)
    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    unreadable_response_schemas: set[str] = field(default_factory=set)  # the checker cannot read them
    request_seconds: float = 0.0
    check_seconds: float = 0.0

    def summary(self) -> str:
        seen = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        return (
            f"{self.api} API: {self.cases} cases over {len(self.operations_reached)} of {self.operations} operations;"
            f" statuses {seen}; failures {len(self.failures)};"
            f" {self.request_seconds:.0f} s in requests, {self.check_seconds:.0f} s in checks"
        )


def stored_values(d: ComputeDataset) -> dict[str, list[str]]:
    """Stored objects by path parameter name, for cases that should reach real data."""
    data = d.data
    return {
        "network_scoped_key": [str(data.network), str(data.spare_network)],
        "transformation_scoped_key": [str(data.transformation)],
        "chemicalsystem_scoped_key": [str(data.chemicalsystem)],
        "task_scoped_key": [str(task) for task in data.tasks],
        "protocoldagresultref_scoped_key": [str(data.result_ref), str(data.failure_ref)],
        "taskhub_scoped_key": [str(d.taskhub)],
        "scoped_key": [str(data.network), str(data.transformation), str(data.tasks[0])],
        "scope": [str(data.scope)],
        "identifier": [data.user, d.owner],
        "compute_service_id": [str(d.service), str(d.spare_service)],
        "compute_manager_id": [str(d.manager), str(d.spare_manager)],
        "compute_manager_name": [d.errored_manager.name, d.manager.name],
        "route": ["results", "failures"],
    }


def fuzz_api(api: str, base_url: str, headers: dict[str, str], stored: dict[str, list[str]], budget: int) -> FuzzReport:
    """Run ``budget`` cases spread over every operation of the API's schema."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    report = FuzzReport(api, operations=len(operations))
    chooser = random.Random(13)
    session = requests.Session()

    def run_case(operation, case) -> None:
        if case.path_parameters:
            for name in case.path_parameters:
                if name in stored and chooser.random() < 0.5:
                    case.path_parameters[name] = chooser.choice(stored[name])
        started = time.perf_counter()
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
        report.request_seconds += time.perf_counter() - started
        report.cases += 1
        report.operations_reached.add(f"{operation.method.upper()} {operation.path}")
        report.statuses[response.status_code] += 1
        if response.status_code == 503 and "Retry-After" in response.headers:
            return  # a dependency is unavailable: documented, and not expected here
        checks = [not_a_server_error]
        if 200 <= response.status_code < 300:
            checks.append(response_schema_conformance)
        started = time.perf_counter()
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except Exception as failure:  # recorded, not raised: hypothesis would stop and shrink
            first_line = str(failure).strip().splitlines()[0] if str(failure).strip() else type(failure).__name__
            if "Invalid Schema Object" in first_line:  # e.g. prefixItems of tuple[str, int]: a checker limit
                report.unreadable_response_schemas.add(f"{operation.method.upper()} {operation.path}")
                return
            report.failures.append(
                f"{operation.method.upper()} {operation.path} -> {response.status_code}: {first_line}\n"
                f"  {case.as_curl_command(headers={'Authorization': 'Bearer <token>'})}"
            )
        finally:
            report.check_seconds += time.perf_counter() - started

    settings = hypothesis.settings(
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
    )
    # first one valid case per operation, so every operation is reached whatever the budget
    for operation in operations:

        @hypothesis.settings(settings, max_examples=1)
        @hypothesis.given(case=operation.as_strategy())
        def first(case):
            run_case(operation, case)  # runs before the loop moves on, so this operation

        first()

    # then one hypothesis run for the rest; each example picks an (operation, valid or invalid) pair evenly
    pairs = [
        (operation, operation.as_strategy(generation_mode=mode))
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]

    @hypothesis.settings(settings, max_examples=max(1, budget - report.cases))
    @hypothesis.given(pick=st.randoms(use_true_random=True), data=st.data())
    def fuzz(pick, data):
        operation, strategy = pick.choice(pairs)
        run_case(operation, data.draw(strategy))

    fuzz()
    session.close()
    return report


@pytest.fixture(scope="module")
def fuzz_world(n4js, neo4j_server, network_chain, tmp_path_factory):
    """Both APIs under uvicorn sharing a populated state store and object store, and a token for each."""
    workdir = tmp_path_factory.mktemp("fuzz")
    objectstore = LocalObjectStore(workdir / "objects")
    objectstore.initialize()
    dataset = populate_compute(n4js, objectstore, network_chain, Scope("fuzzorg", "fuzzcampaign", f"p{uuid.uuid4().hex}"))
    env = server_env(neo4j_server, objectstore.root, workdir / "import-guard.log", JWT_SECRET_KEY=SECRET)
    with running_uvicorn(APPS["user"], env, log_path=workdir / "user-api.log") as user_url:
        with running_uvicorn(APPS["compute"], env, log_path=workdir / "compute-api.log") as compute_url:
            yield {
                "user": (user_url, bearer(token(dataset.data.user, [str(dataset.data.scope)],
                                                expires_seconds=TOKEN_SECONDS))),
                "compute": (compute_url, bearer(token(dataset.owner, [str(dataset.data.scope)],
                                                      entity_type=COMPUTE_ENTITY, expires_seconds=TOKEN_SECONDS))),
                "stored": stored_values(dataset),
                "logs": workdir,
            }


@pytest.mark.parametrize("api", sorted(APPS))
def test_fuzzed_requests_get_no_server_error(api, fuzz_world):
    url, headers = fuzz_world[api]
    report = fuzz_api(api, url, headers, fuzz_world["stored"], BUDGET)
    print(f"\nschemathesis: {report.summary()}")
    if report.unreadable_response_schemas:
        print(f"response schemas the checker cannot read: {sorted(report.unreadable_response_schemas)}")
    for failure in report.failures[:20]:
        print(failure)
    assert report.cases >= BUDGET
    assert report.failures == []
    assert not any(status >= 500 and status != 503 for status in report.statuses)
    assert report.statuses[200] > 0  # valid cases reached real data
