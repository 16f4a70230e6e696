"""The compute API over HTTP (raw requests): authentication, ownership, claiming, results, expiry, imports."""

from __future__ import annotations

import gzip
import json
import time

import httpx
import numpy as np
import pytest
import zstandard
from gufe.protocols import ProtocolDAG, ProtocolUnit
from gufe.tokenization import JSON_HANDLER, GufeTokenizable

from alchemiscale.serialization.compression import (
    RESULT_MEDIA_TYPE,
    bytes_to_latin1,
    compress_keyed_chain,
    deserialize_protocoldagresult,
    serialize_protocoldagresult,
)
from alchemiscale.serialization.gufe_chain import to_keyed_chain_json
from alchemiscale.models import ComputeServiceID, ScopedKey
from alchemiscale.security.models import CredentialedComputeIdentity, CredentialedUserIdentity
from alchemiscale.tests.integration.identities import TEST_KEY, make_identity
from alchemiscale.tests.protocols import FAILURE_MESSAGE, execute_locally

from .conftest import (
    COMPUTE_IDENTIFIER,
    compute_setup,
    make_compute_client,
    run_task,
    running_compute_api,
)

SOLVENT_EDGE = "acetamide to acetone solvent"
TIMEOUT = 60  # seconds; bcrypt and a loaded test machine can be slow


def token(url: str, identifier: str = COMPUTE_IDENTIFIER, key: str = TEST_KEY) -> dict[str, str]:
    response = httpx.post(f"{url}/token", data={"username": identifier, "password": key}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def auth(compute_api_url, compute_identity) -> dict[str, str]:
    return token(compute_api_url)


@pytest.fixture
def api(compute_api_url, auth) -> httpx.Client:
    with httpx.Client(base_url=compute_api_url, headers=auth, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
def registered(api, compute_service_id) -> ComputeServiceID:
    response = api.post(f"/computeservice/{compute_service_id}/register", json={"compute_manager_id": None})
    assert response.status_code == 200, response.text
    return compute_service_id


@pytest.fixture
def intruder(compute_api_url, n4js_fresh) -> httpx.Client:
    """Another compute identity with the same scopes."""
    make_identity(n4js_fresh, CredentialedComputeIdentity, "intruder", ["*-*-*"])
    with httpx.Client(base_url=compute_api_url, headers=token(compute_api_url, "intruder"), timeout=TIMEOUT) as client:
        yield client


def claim(api, service, scope, count=1):
    body = {"scopes": [scope.to_dict()], "compute_service_id": str(service), "count": count}
    response = api.post("/claim", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def upload(api, task, service, protocoldagresult_bytes: bytes) -> httpx.Response:
    body = {"protocoldagresult": bytes_to_latin1(protocoldagresult_bytes), "compute_service_id": str(service)}
    return api.post(f"/tasks/{task}/results", json=body)


def upload_zstd(api, task, service, protocoldagresult_bytes: bytes) -> httpx.Response:
    """The same upload with the bytes as the body itself, as this project's compute client sends it."""
    return api.post(
        f"/tasks/{task}/results/zstd", params={"compute_service_id": str(service)},
        content=protocoldagresult_bytes, headers={"Content-Type": RESULT_MEDIA_TYPE},
    )


# Both upload routes take the same bytes and must treat them the same.
EITHER_UPLOAD = pytest.mark.parametrize("send", [upload, upload_zstd], ids=["json", "zstd"])


def upstream_result_bytes(pdr) -> bytes:
    """A result as upstream's compute client compresses it: its keyed chain written with gufe's
    JSON_HANDLER encoder, UTF-8 encoded, zstd-compressed."""
    return zstandard.ZstdCompressor().compress(json.dumps(pdr.to_keyed_chain(), cls=JSON_HANDLER.encoder).encode())


def upload_as_upstream(api, task, service, protocoldagresult: object) -> httpx.Response:
    """POST a result body as upstream's compute client does: gufe's JSON_HANDLER encodes it (bytes
    become gufe's bytes codec dict, zstd-compressed once more), gzipped, with no Content-Type."""
    body = json.dumps({"protocoldagresult": protocoldagresult, "compute_service_id": str(service)},
                      cls=JSON_HANDLER.encoder)
    return api.post(
        f"/tasks/{task}/results",
        content=gzip.compress(body.encode("utf-8"), mtime=0, compresslevel=5),
        headers={"Content-Encoding": "gzip"},
    )


def upstream_decode(data: bytes):
    """Read stored result bytes back as upstream's clients do (zstd, gufe's JSON decoder, keyed chain)."""
    chain = json.loads(zstandard.ZstdDecompressor().decompress(data).decode("utf-8"), cls=JSON_HANDLER.decoder)
    return GufeTokenizable.from_keyed_chain(chain)


class ArrayOutputUnit(ProtocolUnit):
    """A unit whose outputs gufe's JSON_HANDLER writes as codec dicts: a numpy array and bytes."""

    @staticmethod
    def _execute(ctx, **inputs):
        return {"values": np.arange(3.0), "raw": b"\x00\xff"}


def claim_one(api, service, taskhub, protocols=None) -> ScopedKey:
    body = {"compute_service_id": str(service), "count": 1, "protocols": protocols}
    [claimed] = api.post(f"/taskhubs/{taskhub}/claim", json=body).json()
    assert claimed is not None
    return ScopedKey.from_str(claimed)


class TestBasics:
    def test_ping_needs_no_token(self, compute_api_url):
        assert httpx.get(f"{compute_api_url}/ping", timeout=TIMEOUT).json() == {"api": "AlchemiscaleComputeAPI"}

    def test_info_and_check(self, api):
        assert api.get("/info").json()["api"] == "AlchemiscaleComputeAPI"
        assert api.get("/check").json() == {"neo4j": "ok", "objectstore": "ok"}

    def test_routes_need_a_token(self, compute_api_url, compute_identity, compute_service_id):
        response = httpx.post(
            f"{compute_api_url}/computeservice/{compute_service_id}/register", json={}, timeout=TIMEOUT
        )
        assert response.status_code == 401

    def test_bad_key_and_user_identity_refused(self, compute_api_url, compute_identity, n4js_fresh):
        bad = httpx.post(
            f"{compute_api_url}/token", data={"username": COMPUTE_IDENTIFIER, "password": "wrong"}, timeout=TIMEOUT
        )
        assert bad.status_code == 401
        key = make_identity(n4js_fresh, CredentialedUserIdentity, "a_user", ["*-*-*"])
        user = httpx.post(f"{compute_api_url}/token", data={"username": "a_user", "password": key}, timeout=TIMEOUT)
        assert user.status_code == 401

    def test_own_scopes_only(self, api, intruder):
        assert api.get(f"/identities/{COMPUTE_IDENTIFIER}/scopes").json() == ["*-*-*"]
        assert api.get("/identities/intruder/scopes").status_code == 403


class TestRegistration:
    def test_register_heartbeat_deregister(self, api, n4js_fresh, registered):
        assert n4js_fresh.get_compute_service_claimed_tasks(registered) == []
        assert api.post(f"/computeservice/{registered}/heartbeat").json() == str(registered)
        assert api.post(f"/computeservice/{registered}/deregister").json() == str(registered)
        assert api.post(f"/computeservice/{registered}/heartbeat").status_code == 404
        # deregistering again is harmless
        assert api.post(f"/computeservice/{registered}/deregister").status_code == 200

    def test_duplicate_and_malformed(self, api, registered):
        assert api.post(f"/computeservice/{registered}/register", json={}).status_code == 409
        response = api.post("/computeservice/not-a-uuid/register", json={})
        assert response.status_code == 422
        assert "uuid" in response.json()["detail"]

    def test_unknown_manager(self, api, compute_service_id):
        manager = ComputeServiceID.new_from_name("nomanager")
        response = api.post(f"/computeservice/{compute_service_id}/register", json={"compute_manager_id": manager})
        assert response.status_code == 422
        assert "not registered" in response.json()["detail"]

    def test_other_identity_cannot_act_on_service(self, api, intruder, registered, compute_network, scope_test):
        assert intruder.post(f"/computeservice/{registered}/heartbeat").status_code == 403
        assert intruder.post(f"/computeservice/{registered}/deregister").status_code == 403
        body = {"scopes": [scope_test.to_dict()], "compute_service_id": str(registered), "count": 1}
        assert intruder.post("/claim", json=body).status_code == 403
        hub_body = {"compute_service_id": str(registered), "count": 1}
        assert intruder.post(f"/taskhubs/{compute_network.taskhub}/claim", json=hub_body).status_code == 403
        wanted = {"tasks": [], "compute_service_id": str(registered)}
        assert intruder.post("/tasks/wanted", json=wanted).status_code == 403
        # the owner still can
        assert claim(api, registered, scope_test)[0] is not None

    def test_heartbeat_expires_stale_registrations(
        self, api, compute_identity, n4js_fresh, registered, compute_network, scope_test, neo4j_server,
        compute_objectstore, tmp_path,
    ):
        [task] = claim(api, registered, scope_test)
        with running_compute_api(
            neo4j_server, tmp_path, compute_objectstore.root, ALCHEMISCALE_COMPUTE_API_REGISTRATION_EXPIRE_SECONDS="2"
        ) as short:
            time.sleep(2.5)
            other = ComputeServiceID.new_from_name("other")
            with make_compute_client(short.url, *compute_identity) as client:
                client.register(other)
                client.heartbeat(other)  # its own fresh heartbeat keeps it; the stale one goes
                assert client.heartbeat(other) == other
        assert n4js_fresh.get_task_status([task]) == ["waiting"]
        assert api.post(f"/computeservice/{registered}/heartbeat").status_code == 404


class TestClaiming:
    def test_query_taskhubs(self, api, compute_network, scope_test):
        assert api.get("/taskhubs").json() == [str(compute_network.taskhub)]
        hubs = api.get("/taskhubs", params={"return_gufe": True, **scope_test.to_dict()}).json()
        # as upstream sends it: JSON text of the gufe dict of upstream's TaskHub class
        upstream_form = {
            "network": str(compute_network.network),
            "weight": 0.5,
            "__qualname__": "TaskHub",
            "__module__": "alchemiscale.storage.models",
            ":version:": 1,
        }
        assert hubs == {str(compute_network.taskhub): json.dumps(upstream_form, cls=JSON_HANDLER.encoder)}
        assert api.get("/taskhubs", params={"org": "elsewhere"}).json() == []

    def test_claim_pads_with_null(self, api, registered, compute_network, scope_test, n4js_fresh):
        total = len(compute_network.tasks)
        claimed = claim(api, registered, scope_test, count=total + 2)
        assert sorted(claimed[:total]) == sorted(str(t) for t in compute_network.tasks.values())
        assert claimed[total:] == [None, None]
        assert set(n4js_fresh.get_task_status(list(compute_network.tasks.values()))) == {"running"}

    def test_scopes_exclude_and_token_scopes(
        self, compute_api_url, api, registered, compute_network, scope_test, n4js_fresh
    ):
        body = {
            "scopes": ["*-*-*"],
            "scopes_exclude": [f"{scope_test.org}-*-*"],
            "compute_service_id": str(registered),
            "count": 2,
        }
        assert api.post("/claim", json=body).json() == [None, None]
        make_identity(n4js_fresh, CredentialedComputeIdentity, "narrow", ["other-org-x"])
        narrow_auth = token(compute_api_url, "narrow")
        with httpx.Client(base_url=compute_api_url, headers=narrow_auth, timeout=TIMEOUT) as narrow:
            service = ComputeServiceID.new_from_name("narrow")
            narrow.post(f"/computeservice/{service}/register", json={})
            assert claim(narrow, service, scope_test, count=1) == [None]
            hub_body = {"compute_service_id": str(service), "count": 1}
            assert narrow.post(f"/taskhubs/{compute_network.taskhub}/claim", json=hub_body).status_code == 401

    def test_claim_from_taskhub_with_protocols(self, api, registered, compute_network):
        body = {"compute_service_id": str(registered), "count": 1, "protocols": ["NoSuchProtocol"]}
        assert api.post(f"/taskhubs/{compute_network.taskhub}/claim", json=body).json() == [None]
        body["protocols"] = ["FailingProtocol"]
        [task] = api.post(f"/taskhubs/{compute_network.taskhub}/claim", json=body).json()
        assert task == str(compute_network.tasks["failing transformation"])
        body["protocols"] = ["bad name!"]
        assert api.post(f"/taskhubs/{compute_network.taskhub}/claim", json=body).status_code == 422

    def test_claim_validation(self, api, registered, scope_test):
        base = {"scopes": [scope_test.to_dict()], "compute_service_id": str(registered)}
        assert api.post("/claim", json={**base, "count": 0}).status_code == 422
        assert api.post("/claim", json={**base, "scopes": ["not a scope"]}).status_code == 422
        unregistered = ComputeServiceID.new_from_name("ghost")
        assert api.post("/claim", json={**base, "compute_service_id": str(unregistered)}).status_code == 404

    def test_denied_after_too_many_failures(
        self, api, registered, n4js_fresh, compute_test_network, scope_test, compute_client, tmp_path
    ):
        setup = compute_setup(n4js_fresh, compute_test_network, scope_test, names=["failing transformation"])
        extra = n4js_fresh.create_tasks([setup.transformations["failing transformation"]] * 3)
        n4js_fresh.action_tasks(extra, setup.taskhub)
        for attempt in range(4):
            claimed = claim(api, registered, scope_test)
            assert claimed is not None, f"denied after only {attempt} failures"
            task = ScopedKey.from_str(claimed[0])
            pdr = run_task(compute_client, task, tmp_path / str(attempt))
            assert upload(api, task, registered, serialize_protocoldagresult(pdr)).status_code == 200
        # more than ALCHEMISCALE_COMPUTE_API_MAX_FAILURES (3) failures within the forgive time
        assert claim(api, registered, scope_test) is None


class TestResults:
    @EITHER_UPLOAD
    def test_success_result(
        self, api, registered, compute_network, compute_client, n4js_fresh, tmp_path, compute_objectstore, send
    ):
        # NonTransformations use SuccessProtocol too: leave only Transformations to claim
        n4js_fresh.cancel_tasks(
            [t for t in compute_network.tasks.values()
             if n4js_fresh.get_task_transformation(t).qualname == "NonTransformation"],
            compute_network.taskhub,
        )
        [claimed] = api.post(
            f"/taskhubs/{compute_network.taskhub}/claim",
            json={"compute_service_id": str(registered), "count": 1, "protocols": ["SuccessProtocol"]},
        ).json()
        task = ScopedKey.from_str(claimed)
        assert api.get(f"/tasks/{task}/transformation").json() == str(n4js_fresh.get_task_transformation(task))
        chain, extends = api.get(f"/tasks/{task}/transformation/gufe").json()
        assert chain[-1][1]["__qualname__"] == "Transformation" and extends is None

        pdr = run_task(compute_client, task, tmp_path)
        data = serialize_protocoldagresult(pdr)
        response = send(api, task, registered, data)
        assert response.status_code == 200, response.text
        ref = ScopedKey.from_dict(response.json())
        assert n4js_fresh.get_task_status([task]) == ["complete"]
        assert n4js_fresh.get_task_results(task) == [ref]
        stored = n4js_fresh.get_protocoldagresultref(ref)
        assert compute_objectstore.pull_protocoldagresult(stored, n4js_fresh.get_task_transformation(task)) == data

        # repeated upload: same ref, nothing new; a different result for the finished task: 409
        assert ScopedKey.from_dict(send(api, task, registered, data).json()) == ref
        assert n4js_fresh.get_task_results(task) == [ref]
        other = serialize_protocoldagresult(run_task(compute_client, task, tmp_path / "again"))
        conflict = send(api, task, registered, other)
        assert conflict.status_code == 409 and "not running" in conflict.json()["detail"]
        assert n4js_fresh.get_task_status([task]) == ["complete"]
        assert n4js_fresh.get_task_results(task) == [ref]

    def test_extends_result_is_served(self, api, registered, compute_network, compute_client, n4js_fresh, tmp_path):
        task = compute_network.tasks[SOLVENT_EDGE]
        n4js_fresh.set_task_priority([task], 1)
        [claimed] = api.post(
            f"/taskhubs/{compute_network.taskhub}/claim", json={"compute_service_id": str(registered), "count": 1}
        ).json()
        assert claimed == str(task)
        data = serialize_protocoldagresult(run_task(compute_client, task, tmp_path))
        assert upload(api, task, registered, data).status_code == 200
        [follow_up] = n4js_fresh.create_tasks([compute_network.transformations[SOLVENT_EDGE]], extends=[task])
        _, extends = api.get(f"/tasks/{follow_up}/transformation/gufe").json()
        assert extends.encode("latin-1") == data

    def test_failed_result_tracebacks_and_restart(
        self, api, registered, compute_network, compute_client, n4js_fresh, tmp_path
    ):
        task = compute_network.tasks["failing transformation"]
        n4js_fresh.add_task_restart_patterns(compute_network.taskhub, [FAILURE_MESSAGE], 1)
        body = {"compute_service_id": str(registered), "count": 1, "protocols": ["FailingProtocol"]}
        assert api.post(f"/taskhubs/{compute_network.taskhub}/claim", json=body).json() == [str(task)]
        data = serialize_protocoldagresult(run_task(compute_client, task, tmp_path / "1"))
        ref = ScopedKey.from_dict(upload(api, task, registered, data).json())
        assert n4js_fresh.get_task_failures(task) == [ref]
        [[tracebacks]] = n4js_fresh.get_task_tracebacks([task])
        assert tracebacks["result_ref"] == ref
        assert tracebacks["tracebacks"] and all(FAILURE_MESSAGE in tb for tb in tracebacks["tracebacks"])
        assert n4js_fresh.get_task_status([task]) == ["waiting"]  # restarted by the pattern

        # second failure: the pattern's single retry is used up, so the Task stays errored and is cancelled
        assert api.post(f"/taskhubs/{compute_network.taskhub}/claim", json=body).json() == [str(task)]
        data = serialize_protocoldagresult(run_task(compute_client, task, tmp_path / "2"))
        assert upload(api, task, registered, data).status_code == 200
        assert n4js_fresh.get_task_status([task]) == ["error"]
        assert len(n4js_fresh.get_task_failures(task)) == 2

    def test_results_uploaded_as_upstream(
        self, api, registered, compute_network, compute_client, n4js_fresh, tmp_path, compute_objectstore
    ):
        """Upstream's upload form is stored as ours is, and reads back through both clients' decoding."""
        task = compute_network.tasks[SOLVENT_EDGE]
        n4js_fresh.set_task_priority([task], 1)
        assert claim_one(api, registered, compute_network.taskhub) == task
        pdr = run_task(compute_client, task, tmp_path / "success")
        response = upload_as_upstream(api, task, registered, upstream_result_bytes(pdr))
        assert response.status_code == 200, response.text
        ref = ScopedKey.from_dict(response.json())
        assert n4js_fresh.get_task_status([task]) == ["complete"] and n4js_fresh.get_task_results(task) == [ref]
        transformation = compute_network.transformations[SOLVENT_EDGE]
        stored = compute_objectstore.pull_protocoldagresult(n4js_fresh.get_protocoldagresultref(ref), transformation)
        assert stored == upstream_result_bytes(pdr)  # one zstd layer, the form our clients upload
        assert upstream_decode(stored).key == pdr.key and deserialize_protocoldagresult(stored).key == pdr.key
        # served to a Task extending it: our compute client and upstream's decoding both rebuild it
        [follow_up] = n4js_fresh.create_tasks([transformation], extends=[task])
        assert compute_client.retrieve_task_transformation(follow_up)[1].key == pdr.key
        _, extends = api.get(f"/tasks/{follow_up}/transformation/gufe").json()
        assert upstream_decode(extends.encode("latin-1")).key == pdr.key

        # a failure: tracebacks are found in the JSON_HANDLER-written chain
        failing = claim_one(api, registered, compute_network.taskhub, protocols=["FailingProtocol"])
        failed = run_task(compute_client, failing, tmp_path / "failure")
        response = upload_as_upstream(api, failing, registered, upstream_result_bytes(failed))
        assert response.status_code == 200, response.text
        assert n4js_fresh.get_task_status([failing]) == ["error"]
        [[tracebacks]] = n4js_fresh.get_task_tracebacks([failing])
        assert tracebacks["tracebacks"] and all(FAILURE_MESSAGE in tb for tb in tracebacks["tracebacks"])

    def test_codec_values_in_results(self, api, registered, compute_network, compute_client, n4js_fresh, tmp_path,
                                     compute_objectstore):
        """numpy arrays and bytes in a result's outputs (gufe codec dicts in its chain) do not confuse the summary."""
        task = claim_one(api, registered, compute_network.taskhub, protocols=["SuccessProtocol"])
        transformation, _ = compute_client.retrieve_task_transformation(task)
        dag = ProtocolDAG(protocol_units=[ArrayOutputUnit(name="arrays")], transformation_key=transformation.key)
        pdr = execute_locally(dag, tmp_path)
        assert '"__class__": "ndarray"' in json.dumps(pdr.to_keyed_chain(), cls=JSON_HANDLER.encoder)
        response = upload_as_upstream(api, task, registered, upstream_result_bytes(pdr))
        assert response.status_code == 200, response.text
        assert n4js_fresh.get_task_status([task]) == ["complete"]
        ref = n4js_fresh.get_protocoldagresultref(ScopedKey.from_dict(response.json()))
        stored = compute_objectstore.pull_protocoldagresult(ref, n4js_fresh.get_task_transformation(task))
        [result] = upstream_decode(stored).protocol_unit_results
        assert result.outputs["values"].tolist() == [0.0, 1.0, 2.0] and result.outputs["raw"] == b"\x00\xff"

    def test_legacy_json_result_is_stored_compressed(
        self, api, registered, compute_network, compute_client, n4js_fresh, tmp_path, compute_objectstore
    ):
        task = claim_one(api, registered, compute_network.taskhub, protocols=["SuccessProtocol"])
        chain_json = json.dumps(to_keyed_chain_json(run_task(compute_client, task, tmp_path))).encode("utf-8")
        response = upload(api, task, registered, chain_json)
        assert response.status_code == 200, response.text
        ref = n4js_fresh.get_protocoldagresultref(ScopedKey.from_dict(response.json()))
        stored = compute_objectstore.pull_protocoldagresult(ref, n4js_fresh.get_task_transformation(task))
        assert stored.startswith(b"\x28\xb5\x2f\xfd") and zstandard.ZstdDecompressor().decompress(stored) == chain_json

    @pytest.mark.parametrize(
        "codec, problem",
        [
            ({"__class__": "bytes", "__module__": "builtins", ":is_custom:": True}, "latin-1"),
            ({"__class__": "ndarray", "__module__": "numpy", ":is_custom:": True, "latin-1": ""}, "__class__"),
            ({"__class__": "bytes", "__module__": "builtins", ":is_custom:": True, "latin-1": "\u20ac"}, "U+00FF"),
            (
                {"__class__": "bytes", "__module__": "builtins", ":is_custom:": True,
                 "latin-1": bytes_to_latin1(b"\x28\xb5\x2f\xfd garbage")},
                "corrupt or truncated zstd",
            ),
            (
                {"__class__": "bytes", "__module__": "builtins", ":is_custom:": True,
                 "latin-1": bytes_to_latin1(zstandard.ZstdCompressor().compress(
                     zstandard.ZstdCompressor().compress(b"not json")))},
                "JSON",
            ),
        ],
        ids=["no latin-1", "not bytes", "not latin-1", "corrupt zstd", "not json"],
    )
    def test_bad_codec_upload_is_refused(self, api, registered, compute_network, codec, problem, n4js_fresh):
        task = claim_one(api, registered, compute_network.taskhub)
        response = api.post(
            f"/tasks/{task}/results", json={"protocoldagresult": codec, "compute_service_id": str(registered)}
        )
        assert response.status_code == 422
        assert problem in str(response.json()["detail"])
        assert n4js_fresh.get_task_status([task]) == ["running"]

    @pytest.mark.parametrize(
        "payload, problem",
        [
            (b"\x28\xb5\x2f\xfd garbage", "zstd"),
            (zstandard.ZstdCompressor().compress(b"not json"), "JSON"),
            (compress_keyed_chain([["a", 1]]), "keyed chain"),
            (b"", "empty"),
        ],
    )
    @EITHER_UPLOAD
    def test_corrupt_upload_is_refused(self, api, registered, compute_network, payload, problem, n4js_fresh, send):
        [claimed] = api.post(
            f"/taskhubs/{compute_network.taskhub}/claim", json={"compute_service_id": str(registered), "count": 1}
        ).json()
        response = send(api, claimed, registered, payload)
        assert response.status_code == 422
        assert problem in response.json()["detail"]
        assert n4js_fresh.get_task_status([ScopedKey.from_str(claimed)]) == ["running"]

    def test_not_a_protocoldagresult_or_latin1(self, api, registered, compute_network, transformation):
        [claimed] = api.post(
            f"/taskhubs/{compute_network.taskhub}/claim", json={"compute_service_id": str(registered), "count": 1}
        ).json()
        response = upload(api, claimed, registered, compress_keyed_chain(to_keyed_chain_json(transformation)))
        assert response.status_code == 422 and "ProtocolDAGResult" in response.json()["detail"]
        body = {"protocoldagresult": "\u20ac", "compute_service_id": str(registered)}
        response = api.post(f"/tasks/{claimed}/results", json=body)
        assert response.status_code == 422 and "latin-1" in response.json()["detail"]

    def test_zstd_upload_needs_its_service(self, api, registered, compute_network, compute_client, tmp_path, n4js_fresh):
        task = claim_one(api, registered, compute_network.taskhub, protocols=["SuccessProtocol"])
        data = serialize_protocoldagresult(run_task(compute_client, task, tmp_path))
        response = api.post(f"/tasks/{task}/results/zstd", content=data, headers={"Content-Type": RESULT_MEDIA_TYPE})
        assert response.status_code == 422 and "compute_service_id" in response.text
        response = upload_zstd(api, task, "not-a-service-id", data)
        assert response.status_code == 422 and "ComputeServiceID" in response.text
        assert n4js_fresh.get_task_status([task]) == ["running"]

    def test_unknown_and_malformed_tasks(self, api, registered, compute_network):
        missing = ScopedKey(gufe_key="Task-" + "0" * 32, **compute_network.taskhub.scope.to_dict())
        assert api.get(f"/tasks/{missing}/transformation").status_code == 404
        assert api.get("/tasks/Task-abc/transformation").status_code == 422


class TestTasksWanted:
    def test_wanted_follows_status_and_actions(self, api, registered, compute_network, scope_test, n4js_fresh):
        claimed = [t for t in claim(api, registered, scope_test, count=3) if t is not None]
        body = {"tasks": claimed, "compute_service_id": str(registered)}
        assert api.post("/tasks/wanted", json=body).json() == [True, True, True]
        first, second, _ = (ScopedKey.from_str(t) for t in claimed)
        n4js_fresh.set_task_invalid([first])
        n4js_fresh.cancel_tasks([second], compute_network.taskhub)
        assert api.post("/tasks/wanted", json=body).json() == [False, False, True]
        api.post(f"/computeservice/{registered}/deregister")
        assert api.post("/tasks/wanted", json=body).json() == [False, False, False]


class TestComputeManagers:
    def test_manager_lifecycle(self, api, intruder, compute_network, scope_test, n4js_fresh):
        manager = ComputeServiceID.new_from_name("manager")  # same form as a ComputeManagerID
        assert api.post(f"/computemanager/{manager}/register", json={"steal": False}).json() == str(manager)
        rival = ComputeServiceID.new_from_name("manager")
        assert api.post(f"/computemanager/{rival}/register", json={"steal": False}).status_code == 422
        assert intruder.post(f"/computemanager/{rival}/register", json={"steal": True}).status_code == 403
        report = {"status": "OK", "saturation": 0.1}
        assert intruder.post(f"/computemanager/{manager}/status", json=report).status_code == 403

        service = ComputeServiceID.new_from_name("managed")
        assert api.post(f"/computeservice/{service}/register", json={"compute_manager_id": manager}).status_code == 200
        instruction = api.post(f"/computemanager/{manager}/instruction", json={"scopes": ["*-*-*"]}).json()
        assert instruction == {
            "instruction": "OK",
            "compute_service_ids": [str(service)],
            "num_tasks": len(compute_network.tasks),
            "busy_compute_service_ids": [],
        }
        # upstream managers without configured filters send [] for "every Scope" and "any Protocol"
        unfiltered = api.post(f"/computemanager/{manager}/instruction", json={"scopes": [], "protocols": []})
        assert unfiltered.json() == instruction
        filtered = {"scopes": ["*-*-*"], "protocols": ["FailingProtocol"]}
        assert api.post(f"/computemanager/{manager}/instruction", json=filtered).json()["num_tasks"] == 1
        status = api.post(f"/computemanager/{manager}/status", json={"status": "ERROR", "detail": "broken"})
        assert status.status_code == 200
        assert n4js_fresh.get_compute_manager_status(manager).status == "ERROR"
        assert api.post(f"/computemanager/{manager}/status", json={"status": "OK"}).status_code == 400
        assert api.post("/computemanager/manager/clear_error").json() == str(manager)
        assert n4js_fresh.get_compute_manager_id("manager") is None
        gone = api.post(f"/computemanager/{manager}/instruction", json={"scopes": ["*-*-*"]}).json()
        assert gone["instruction"] == "SHUTDOWN"

    def test_steal_and_deregister(self, api, n4js_fresh):
        first = ComputeServiceID.new_from_name("stealer")
        second = ComputeServiceID.new_from_name("stealer")
        api.post(f"/computemanager/{first}/register", json={})
        assert api.post(f"/computemanager/{second}/register", json={"steal": True}).status_code == 200
        assert n4js_fresh.get_compute_manager_id("stealer") == second
        assert api.post(f"/computemanager/{second}/deregister").json() == str(second)
        assert n4js_fresh.get_compute_manager_id("stealer") is None


class TestNoChemistryImports:
    def test_server_never_imports_gufe_or_protocols(
        self, api, compute_api_server, registered, compute_network, scope_test, compute_client, tmp_path
    ):
        """Every route runs in a server whose import guard refuses gufe/rdkit/openmm/openff/protocols."""
        assert compute_api_server.import_guard_log.exists(), "the import guard is not active in the server"
        api.get("/taskhubs", params={"return_gufe": True})
        for protocol in ("SuccessProtocol", "FailingProtocol"):
            body = {"compute_service_id": str(registered), "count": 1, "protocols": [protocol]}
            [claimed] = api.post(f"/taskhubs/{compute_network.taskhub}/claim", json=body).json()
            assert api.get(f"/tasks/{claimed}/transformation/gufe").status_code == 200
            pdr = run_task(compute_client, ScopedKey.from_str(claimed), tmp_path / protocol)
            assert upload(api, claimed, registered, serialize_protocoldagresult(pdr)).status_code == 200
        upstream_task = claim_one(api, registered, compute_network.taskhub, protocols=["SuccessProtocol"])
        pdr = run_task(compute_client, upstream_task, tmp_path / "upstream")
        assert upload_as_upstream(api, upstream_task, registered, upstream_result_bytes(pdr)).status_code == 200
        assert api.post("/tasks/wanted", json={"tasks": [], "compute_service_id": str(registered)}).json() == []
        assert api.post(f"/computeservice/{registered}/heartbeat").status_code == 200
        assert compute_api_server.import_guard_log.read_text() == ""


class TestKeyKinds:
    """A ScopedKey of the wrong kind is refused with 400 naming the kind the route expects."""

    def test_wrong_kinds(self, api, registered, compute_network):
        task = next(iter(compute_network.tasks.values()))
        for method, path, body in [
            ("GET", f"/tasks/{compute_network.taskhub}/transformation", None),
            ("POST", f"/taskhubs/{task}/claim", {"compute_service_id": str(registered)}),
            ("POST", f"/tasks/{compute_network.network}/results",
             {"protocoldagresult": "x", "compute_service_id": str(registered)}),
            ("POST", "/tasks/wanted", {"tasks": [str(compute_network.taskhub)], "compute_service_id": str(registered)}),
        ]:
            response = api.request(method, path, json=body)
            assert response.status_code == 400, (path, response.text)
            expected = "TaskHub" if "/claim" in path else "Task"
            assert f"of kind {expected}, got one of kind" in response.json()["detail"], response.text
        every_task = {str(t) for t in compute_network.tasks.values()}
        claimed = claim(api, registered, compute_network.taskhub.scope, count=len(every_task))
        assert set(claimed) == every_task, "the refused requests claimed nothing"
