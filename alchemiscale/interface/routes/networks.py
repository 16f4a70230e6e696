"""Networks: submission, queries, retrieval, deletion, relations, states and TaskHub weights."""

from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import Body, Depends, HTTPException, status

from ...base.api import KeyedChainResponse, N4jsDepends, scope_params, validate_scopes
from ...errors import InvalidInputError, NotFoundError
from ...models import Scope
from ...storage.statestore.networks import check_network_state
from ...storage.statestore.scoping import check_weight
from ..bodies import NetworkStatesBody, NetworkSubmission, NetworksBody, NetworkWeightsBody
from .common import NETWORK, UserToken, apply_permitted, authorized_key, query_scopes, sk_strs, user_router

router = user_router()


@router.post("/networks")
def create_network(submission: NetworkSubmission, token_data: UserToken, n4js: N4jsDepends) -> dict[str, str]:
    """Store a network keyed chain with its TaskHub and NetworkMark; returns the network's ScopedKey dict."""
    if not submission.scope.specific():
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"Scope {submission.scope} has a wildcard; a network must be submitted to a specific Scope",
        )
    validate_scopes(submission.scope, token_data)
    network_sk, _, _ = n4js.assemble_network(submission.network, submission.scope, submission.state)
    return network_sk.to_dict()


@router.get("/networks")
def query_networks(
    token_data: UserToken,
    n4js: N4jsDepends,
    scope: Annotated[Scope, Depends(scope_params)],
    name: Optional[str] = None,
    state: Optional[str] = None,
) -> list[str]:
    """Networks whose name and state match the given regular expressions, in the permitted scopes."""
    return query_scopes(scope, token_data, lambda s: n4js.query_networks(name=name, scope=s, state=state))


@router.get("/networks/{network_scoped_key}")
def get_network(network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> KeyedChainResponse:
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    return KeyedChainResponse(n4js.get_keyed_chain(sk))


@router.delete("/networks/{network_scoped_key}")
def delete_network(network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> dict[str, Any]:
    """Delete a network with everything only it uses; objects, Tasks and results shared with others stay."""
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    return {"network": str(sk), **n4js.delete_network(sk)}


@router.get("/networks/{network_scoped_key}/transformations")
def get_network_transformations(network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    return sk_strs(n4js.get_network_transformations(authorized_key(network_scoped_key, token_data, NETWORK)))


@router.get("/networks/{network_scoped_key}/chemicalsystems")
def get_network_chemicalsystems(network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    return sk_strs(n4js.get_network_chemicalsystems(authorized_key(network_scoped_key, token_data, NETWORK)))


@router.post("/bulk/networks/state/set")
def set_networks_state(body: NetworkStatesBody, token_data: UserToken, n4js: N4jsDepends) -> list[Optional[str]]:
    """Set each network's state (active, inactive, invalid, deleted); null for unknown or foreign networks."""
    if len(body.networks) != len(body.states):
        raise InvalidInputError(f"got {len(body.networks)} networks but {len(body.states)} states; they must match one to one")
    states = [check_network_state(state) for state in body.states]
    return sk_strs(apply_permitted(body.networks, token_data, n4js.set_network_state, states))


@router.post("/bulk/networks/state/get")
def get_networks_state(body: NetworksBody, token_data: UserToken, n4js: N4jsDepends) -> list[Optional[str]]:
    return apply_permitted(body.networks, token_data, n4js.get_network_state)


@router.get("/networks/{network_scoped_key}/weight")
def get_network_weight(network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> float:
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    weight = n4js.get_taskhub_weight([sk])[0]
    if weight is None:
        raise NotFoundError(f"no AlchemicalNetwork with ScopedKey {sk} in the state store")
    return weight


@router.post("/networks/{network_scoped_key}/weight")
def set_network_weight(
    network_scoped_key: str, weight: Annotated[float, Body()], token_data: UserToken, n4js: N4jsDepends
) -> str:
    """Set the claim weight (0..1) of the network's TaskHub."""
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    if n4js.set_taskhub_weight([sk], [weight])[0] is None:
        raise NotFoundError(f"no AlchemicalNetwork with ScopedKey {sk} in the state store")
    return str(sk)


@router.post("/bulk/networks/weight/get")
def get_networks_weight(body: NetworksBody, token_data: UserToken, n4js: N4jsDepends) -> list[Optional[float]]:
    return apply_permitted(body.networks, token_data, n4js.get_taskhub_weight)


@router.post("/bulk/networks/weight/set")
def set_networks_weight(body: NetworkWeightsBody, token_data: UserToken, n4js: N4jsDepends) -> list[Optional[str]]:
    if len(body.networks) != len(body.weights):
        raise InvalidInputError(
            f"got {len(body.networks)} networks but {len(body.weights)} weights; they must match one to one"
        )
    weights = [check_weight(w, "TaskHub weight") for w in body.weights]
    return sk_strs(apply_permitted(body.networks, token_data, n4js.set_taskhub_weight, weights))


@router.get("/exists/{scoped_key}")
def check_existence(scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> bool:
    """Whether any stored object (network, Transformation, Task, ...) has this ScopedKey."""
    return n4js.check_existence(authorized_key(scoped_key, token_data))
