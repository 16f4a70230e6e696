"""Upstream alchemiscale 0.8.0's compute side, unchanged, against a compute API.

With config ``exercise_clients`` true, first every public method of
``AlchemiscaleComputeManagerClient`` (as config ``manager_name``: register, instructions with and
without a Protocol filter, status reports, clear_error, deregister) and of
``AlchemiscaleComputeClient`` (as a service named config ``client_name``): it registers, beats,
lists scopes and TaskHubs, claims the highest-priority Task from config ``taskhub`` and then one
more through ``/claim``, executes each with gufe's ``execute_DAG``, uploads the
ProtocolDAGResults, and deregisters.

Then upstream's ``SynchronousComputeService`` runs in this process (settings from config
``service``) until it has executed ``service.max_tasks`` Tasks, or ``service.max_time`` seconds.

Output: ``{"public_methods": {class: [...]}, "records": {label: ...}, "service": {...}}``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from peer_common import Recorder, pdr_summary, public_methods, read_config, scope, scoped_key, write_output

def client_arguments(config: dict) -> dict:
    return {
        "api_url": config["compute_api_url"],
        "identifier": config["compute_identifier"],
        "key": config["compute_key"],
        "max_retries": 0,
    }


def exercise_manager_client(config: dict, rec: Recorder) -> None:
    from alchemiscale.compute.client import AlchemiscaleComputeManagerClient
    from alchemiscale.storage.models import ComputeManagerID, ComputeManagerStatus

    client = AlchemiscaleComputeManagerClient(**client_arguments(config))
    manager = ComputeManagerID.new_from_name(config["manager_name"])
    scopes = [scope(config["scope"])]
    rec.call("manager.get_info", client.get_info)
    rec.call("manager.register", client.register, manager)
    # upstream's ComputeManager asks with protocols=None, which the client sends as []: "no filter"
    rec.call("manager.get_instruction", client.get_instruction, scopes, None, manager)
    rec.call("manager.get_instruction:protocols", client.get_instruction, scopes, ["DummyProtocol"], manager)
    rec.call("manager.update_status", client.update_status, manager, ComputeManagerStatus.OK, saturation=0.5)
    rec.call(
        "manager.update_status:error",
        client.update_status,
        manager,
        ComputeManagerStatus.ERROR,
        detail="the peer reports an error so that clear_error has one to clear",
    )
    rec.call("manager.clear_error", client.clear_error, config["manager_name"])
    rec.call("manager.get_instruction:after_clear", client.get_instruction, scopes, None, manager)
    rec.call("manager.deregister", client.deregister, manager)


def exercise_compute_client(config: dict, rec: Recorder) -> None:
    from alchemiscale.compute.client import AlchemiscaleComputeClient
    from alchemiscale.storage.models import ComputeServiceID
    from gufe.protocols.protocoldag import execute_DAG

    client = AlchemiscaleComputeClient(**client_arguments(config), use_local_cache=False)
    service = ComputeServiceID.new_from_name(config["client_name"])
    scopes = [scope(config["scope"])]
    rec.call("compute.get_info", client.get_info)
    rec.call("compute.list_scopes", client.list_scopes)
    rec.call("compute.register", client.register, service)
    rec.call("compute.heartbeat", client.heartbeat, service)
    rec.call("compute.query_taskhubs", client.query_taskhubs, scopes)
    rec.call(
        "compute.query_taskhubs:return_gufe",
        client.query_taskhubs,
        scopes,
        return_gufe=True,
        summary=lambda found: {str(sk): {"network": str(th.network), "weight": th.weight} for sk, th in found.items()},
    )
    taskhub = scoped_key(config["taskhub"])
    claimed = rec.call("compute.claim_taskhub_tasks", client.claim_taskhub_tasks, taskhub, service, count=1) or []
    claim = dict(count=1, protocols=["DummyProtocol"])
    claimed += rec.call("compute.claim_tasks", client.claim_tasks, scopes, service, **claim) or []
    for n, task in enumerate(t for t in claimed if t is not None):
        suffix = "" if n == 0 else f":{n}"
        rec.call(f"compute.get_task_transformation{suffix}", client.get_task_transformation, task)
        found = rec.call(
            f"compute.retrieve_task_transformation{suffix}",
            client.retrieve_task_transformation,
            task,
            summary=lambda pair: {"transformation": str(pair[0].key), "extends": pair[1] and str(pair[1].key)},
        )
        if found is None:
            continue
        transformation, extends = found
        with tempfile.TemporaryDirectory() as tmp:
            shared, scratch = Path(tmp, "shared"), Path(tmp, "scratch")
            shared.mkdir()
            scratch.mkdir()
            dag = transformation.create(extends=extends, name=str(task))
            pdr = execute_DAG(dag, shared_basedir=shared, scratch_basedir=scratch, raise_error=False, n_retries=0)
        rec.call(f"compute.set_task_result{suffix}", client.set_task_result, task, pdr, service)
        rec.records[f"compute.set_task_result{suffix}"]["uploaded"] = pdr_summary(pdr)
    rec.call("compute.deregister", client.deregister, service)


def run_service(config: dict) -> dict:
    """Upstream's SynchronousComputeService until ``max_tasks`` Tasks are done; what it did."""
    from alchemiscale.compute.service import SynchronousComputeService
    from alchemiscale.compute.settings import ComputeServiceSettings

    settings = ComputeServiceSettings(
        api_url=config["compute_api_url"],
        identifier=config["compute_identifier"],
        key=config["compute_key"],
        **config["service"],
    )
    service = SynchronousComputeService(settings)
    started = time.monotonic()
    error = None
    try:
        service.start()
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
    return {
        "error": error,
        "tasks_executed": getattr(service, "_tasks_counter", 0),
        "seconds": round(time.monotonic() - started, 2),
        "compute_service_id": str(service.compute_service_id),
        "log": Path(settings.logfile).read_text()[-6000:] if settings.logfile else "",
    }


def main() -> None:
    config = read_config()
    from alchemiscale.compute.client import AlchemiscaleComputeClient, AlchemiscaleComputeManagerClient

    rec = Recorder()
    data = {
        "public_methods": {
            "AlchemiscaleComputeClient": public_methods(AlchemiscaleComputeClient),
            "AlchemiscaleComputeManagerClient": public_methods(AlchemiscaleComputeManagerClient),
        }
    }
    if config.get("exercise_clients"):
        exercise_manager_client(config, rec)
        exercise_compute_client(config, rec)
    data["service"] = run_service(config)
    write_output(config, {**data, "records": rec.records})


if __name__ == "__main__":
    main()
