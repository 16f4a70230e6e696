"""The compute API's claim bodies: the one place a claim request is validated."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alchemiscale.compute.bodies import ClaimTaskHubTasksBody, ClaimTasksBody, ComputeManagerInstructionBody
from alchemiscale.models import ComputeServiceID

SERVICE = str(ComputeServiceID.new_from_name("worker"))


@pytest.mark.parametrize("protocols", [[], ["1Protocol"], ["My-Protocol"], ["Proto col"], "SuccessProtocol", [3]])
@pytest.mark.parametrize("body, fields", [(ClaimTaskHubTasksBody, {}), (ClaimTasksBody, {"scopes": ["*-*-*"]})])
def test_claim_bodies_refuse_bad_protocol_filters(body, fields, protocols):
    with pytest.raises(ValidationError, match="protocols"):
        body(compute_service_id=SERVICE, protocols=protocols, **fields)


def test_claim_body_accepts_names_and_none_and_parses_the_service_id():
    body = ClaimTasksBody(scopes=["org-*-*"], compute_service_id=SERVICE, protocols=["SuccessProtocol", "Other_2"])
    assert body.protocols == ["SuccessProtocol", "Other_2"]
    assert isinstance(body.compute_service_id, ComputeServiceID) and body.compute_service_id.name == "worker"
    assert ClaimTaskHubTasksBody(compute_service_id=SERVICE).protocols is None


@pytest.mark.parametrize("fields", [{"count": 0}, {"count": 1001}, {"compute_service_id": "no-uuid-here"}])
def test_claim_body_refuses_bad_counts_and_service_ids(fields):
    with pytest.raises(ValidationError, match=next(iter(fields))):
        ClaimTaskHubTasksBody(**{"compute_service_id": SERVICE, **fields})


def test_manager_instruction_body_empty_filters_mean_no_restriction():
    body = ComputeManagerInstructionBody(scopes=[], protocols=[])
    assert body.protocols is None and [str(s) for s in body.scopes] == ["*-*-*"]
    with pytest.raises(ValidationError, match="protocols"):
        ComputeManagerInstructionBody(protocols=["Proto col"])
