"""A user API and a compute API on one Neo4j and object store, a user with two of three Scopes,
networks of quick test Protocols, and helpers to produce real results and run strategist cycles.

The compute API fixtures are those of the compute tests; ``compute_identity`` empties the
database first, so each test starts from nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gufe import AlchemicalNetwork, ChemicalSystem, Transformation

from alchemiscale.compute.client import AlchemiscaleComputeClient
from alchemiscale.models import ComputeServiceID, Scope
from alchemiscale.security.models import CredentialedUserIdentity
from alchemiscale.strategist.client import StrategistClient
from alchemiscale.strategist.service import Strategist
from alchemiscale.strategist.settings import StrategistSettings
from alchemiscale.tests.integration.compute.conftest import (  # noqa: F401  (fixtures)
    compute_api_server,
    compute_api_url,
    compute_identity,
    compute_objectstore,
    make_compute_client,
)
from alchemiscale.tests.integration.compute.service.conftest import user_api_url  # noqa: F401  (fixture)
from alchemiscale.tests.integration.identities import make_identity
from alchemiscale.tests.protocols import FailingProtocol, SuccessProtocol, execute_locally

USER = "strategist-user"

# A star around methane plus one more edge: degrees methane 3, ethane 2, propane 2, benzene 1.
EDGES = (("methane", "ethane"), ("methane", "propane"), ("methane", "benzene"), ("ethane", "propane"))


@dataclass
class World:
    """The user's two Scopes, one it lacks, and clients of both APIs."""

    scope: Scope
    other_scope: Scope
    forbidden_scope: Scope
    client: StrategistClient
    compute: AlchemiscaleComputeClient
    service: ComputeServiceID
    key: str
    api_url: str


def vacuum_network(ligands, edges=EDGES, name="strategist network", failing: tuple = ()) -> AlchemicalNetwork:
    """Vacuum Transformations with the quick SuccessProtocol (FailingProtocol for the ``failing`` edges)."""
    systems = {n: ChemicalSystem({"ligand": ligands[n]}, name=f"{n} vacuum") for pair in edges + failing for n in pair}
    success = SuccessProtocol(SuccessProtocol.default_settings())
    failure = FailingProtocol(FailingProtocol.default_settings())
    transformations = [Transformation(systems[a], systems[b], success, name=f"{a} to {b}") for a, b in edges]
    transformations += [Transformation(systems[a], systems[b], failure, name=f"{a} to {b} fails") for a, b in failing]
    return AlchemicalNetwork(edges=transformations, name=name)


@pytest.fixture
def world(n4js_fresh, compute_identity, compute_api_url, user_api_url, tmp_path) -> Iterator[World]:  # noqa: F811
    project = uuid.uuid4().hex[:8]
    scope, other, forbidden = (Scope("strat", "campaign", f"{name}{project}") for name in ("a", "b", "c"))
    key = make_identity(n4js_fresh, CredentialedUserIdentity, USER, [str(scope), str(other)])
    service = ComputeServiceID.new_from_name("strategist_tests")
    with StrategistClient(user_api_url, USER, key, use_local_cache=False, max_retries=1) as client, \
            make_compute_client(compute_api_url, *compute_identity) as compute:
        compute.register(service)
        yield World(scope, other, forbidden, client, compute, service, key, user_api_url)


def make_strategist(world: World, tmp_path: Path, **overrides) -> Strategist:
    settings = {
        "api_url": world.api_url, "identifier": USER, "key": world.key, "sleep_interval": 1, "max_workers": 2,
        "loglevel": "INFO", "cache_directory": str(tmp_path / "strategist-cache"), "client_max_retries": 1,
        **overrides,
    }
    return Strategist(StrategistSettings(**settings))


def cycle_when_due(strategist: Strategist):
    """One cycle, once the 1 s minimum interval since the last run has passed."""
    time.sleep(1.05)
    return {outcome.network: outcome for outcome in strategist.cycle()}


def compute_all(world: World, workdir: Path, limit: int = 50) -> int:
    """Claim and run actioned Tasks in process with the compute client until none is left; how many ran."""
    done = 0
    while done < limit:
        claimed = [task for task in world.compute.claim_tasks([Scope()], world.service, count=5) or [] if task]
        if not claimed:
            return done
        for task in claimed:
            transformation, extends = world.compute.retrieve_task_transformation(task)
            result = execute_locally(transformation.create(extends=extends), workdir / uuid.uuid4().hex)
            world.compute.set_task_result(task, result, world.service)
            done += 1
    raise AssertionError(f"more than {limit} Tasks to compute: the strategist did not converge")
