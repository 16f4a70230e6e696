"""``AlchemiscaleClient``: the Python client of the user API.

Methods are thin, typed wrappers over the base client's transport (see ``docs/clients.rst``).
gufe objects travel as keyed chains: ``create_network`` sends one (gzipped), and ``get_network``,
``get_transformation`` and ``get_chemicalsystem`` rebuild objects from the ones the server
returns, keeping the chains in the base client's memory and disk cache. Task methods live in
:mod:`.client_tasks`, result retrieval in :mod:`.client_results`, status tables in :mod:`.client_status`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

from ..base.client import AlchemiscaleBaseClient, AlchemiscaleClientError, progress_bar
from ..base.client_cache import CacheKind
from ..models import Scope, ScopedKey
from ..storage.models import NetworkStateEnum
from .client_common import ScopedKeyLike, as_scoped_key, optional_scoped_keys, wire_keys
from .client_results import ResultFormat, ResultsMixin
from .client_html import StatusCounts
from .client_status import print_status_table
from .client_tasks import TasksMixin

if TYPE_CHECKING:  # pragma: no cover
    from gufe import AlchemicalNetwork, ChemicalSystem, Transformation
    from gufe.tokenization import GufeTokenizable

__all__ = ["AlchemiscaleClient", "AlchemiscaleClientError", "ResultFormat"]

API_NAME = "AlchemiscaleAPI"


def _state_value(state: Union[NetworkStateEnum, str]) -> str:
    try:
        return NetworkStateEnum(state).value
    except ValueError:
        options = ", ".join(s.value for s in NetworkStateEnum)
        raise ValueError(f"unknown network state {state!r}; expected one of {options}") from None


def _check_weight(weight: float) -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
        raise ValueError(f"network weights must be numbers between 0 and 1, got {weight!r}")
    return float(weight)


def _validate_network(network: "AlchemicalNetwork") -> None:
    """Reject networks the server would refuse, before uploading them: self-transformations."""
    from gufe import AlchemicalNetwork, NonTransformation

    if not isinstance(network, AlchemicalNetwork):
        raise TypeError(f"network must be a gufe AlchemicalNetwork, got {type(network).__name__}")
    for transformation in network.edges:
        if not isinstance(transformation, NonTransformation) and transformation.stateA == transformation.stateB:
            raise ValueError(
                f"Transformation {transformation.name or transformation.key!r} has the same ChemicalSystem as "
                "stateA and stateB; use a NonTransformation to sample a single system"
            )


class AlchemiscaleClient(TasksMixin, ResultsMixin, AlchemiscaleBaseClient):
    """Client of the alchemiscale user API: submit networks, manage Tasks, retrieve results.

    ``api_url``, ``identifier`` and ``key`` default to ``ALCHEMISCALE_URL``, ``ALCHEMISCALE_ID`` and
    ``ALCHEMISCALE_KEY``; see :class:`~alchemiscale.base.client.AlchemiscaleBaseClient` for the rest.
    """

    _api_name = API_NAME

    # -- identity and scopes ----------------------------------------------------------------------

    def get_scopes(self) -> list[Scope]:
        """The Scopes your identity may access, sorted (read from the server, not from the token)."""
        return sorted(Scope.from_str(s) for s in self._get_resource(f"/identities/{self.identifier}/scopes"))

    def list_scopes(self) -> list[Scope]:
        """Same as :meth:`get_scopes`."""
        return self.get_scopes()

    def get_scoped_key(self, obj: "GufeTokenizable", scope: Scope) -> ScopedKey:
        """Deprecated: the ScopedKey ``obj`` would have in ``scope``, computed locally.

        Keys computed locally can differ from the server's (e.g. another gufe version), so use the
        ScopedKeys the server returns (``create_network``, the query methods) instead.
        """
        warnings.warn(
            "get_scoped_key is deprecated: locally computed keys can differ from the server's; "
            "use the ScopedKeys returned by create_network or the query methods",
            DeprecationWarning,
            stacklevel=2,
        )
        if not scope.specific():
            raise ValueError(f"scope must be specific (no '*'), got {scope}")
        return ScopedKey(gufe_key=str(obj.key), **scope.to_dict())

    def check_exists(self, scoped_key: ScopedKeyLike) -> bool:
        """Whether the server holds an object with this ScopedKey."""
        return bool(self._get_resource(f"/exists/{as_scoped_key(scoped_key)}"))

    # -- networks ---------------------------------------------------------------------------------

    def create_network(
        self,
        network: "AlchemicalNetwork",
        scope: Scope,
        state: Union[NetworkStateEnum, str] = NetworkStateEnum.active,
        compress: Union[bool, int] = True,
        visualize: bool = True,
    ) -> ScopedKey:
        """Submit an AlchemicalNetwork to a specific Scope; returns its ScopedKey.

        Submitting a network that is already there changes nothing and returns the same key.
        """
        from ..serialization.gufe_chain import to_keyed_chain_json

        if not isinstance(scope, Scope) or not scope.specific():
            raise ValueError(f"scope must be a specific Scope (no '*'), got {scope}")
        _validate_network(network)
        data = {"network": to_keyed_chain_json(network), "scope": scope.to_dict(), "state": _state_value(state)}
        with progress_bar(f"Submitting network {network.name or network.key!r}", visualize=visualize):
            response = self._post_resource("/networks", data, compress=compress)
        return as_scoped_key(response)

    def delete_network(self, network: ScopedKeyLike) -> Any:
        """Delete a network with its TaskHub and every object, Task and result only it used.

        What another network still uses stays. Returns the server's summary:
        ``{"network", "objects", "tasks", "results"}`` (how many of each were deleted).
        """
        response = self._request("DELETE", f"/networks/{as_scoped_key(network)}")
        return response.json() if response.content else None

    def set_network_state(self, network: ScopedKeyLike, state: Union[NetworkStateEnum, str]) -> Optional[ScopedKey]:
        """Set a network ``active``, ``inactive``, ``invalid`` or ``deleted``; ``None`` if unknown."""
        return self.set_networks_state([network], [state])[0]

    def set_networks_state(
        self, networks: Sequence[ScopedKeyLike], states: Sequence[Union[NetworkStateEnum, str]]
    ) -> list[Optional[ScopedKey]]:
        if len(networks) != len(states):
            raise ValueError(f"need one state per network: got {len(states)} for {len(networks)}")
        data = {"networks": wire_keys(networks), "states": [_state_value(s) for s in states]}
        return optional_scoped_keys(self._post_resource("/bulk/networks/state/set", data))

    def get_network_state(self, network: ScopedKeyLike) -> Optional[str]:
        return self.get_networks_state([network])[0]

    def get_networks_state(self, networks: Sequence[ScopedKeyLike]) -> list[Optional[str]]:
        return self._post_resource("/bulk/networks/state/get", {"networks": wire_keys(networks)})

    # -- queries ----------------------------------------------------------------------------------

    def query_networks(
        self,
        name: Optional[str] = None,
        scope: Optional[Scope] = None,
        state: Optional[str] = NetworkStateEnum.active.value,
    ) -> list[ScopedKey]:
        """Networks visible to you in ``scope`` (default: all); ``name`` and ``state`` are regular
        expressions, and ``state=None`` matches every state."""
        scope = scope or Scope()
        return self._query_resource("/networks", {"name": name, "state": state, **scope.to_dict()})

    def query_transformations(self, name: Optional[str] = None, scope: Optional[Scope] = None) -> list[ScopedKey]:
        """Transformations visible to you in ``scope``; ``name`` must match exactly."""
        scope = scope or Scope()
        return self._query_resource("/transformations", {"name": name, **scope.to_dict()})

    def query_chemicalsystems(self, name: Optional[str] = None, scope: Optional[Scope] = None) -> list[ScopedKey]:
        """ChemicalSystems visible to you in ``scope``; ``name`` must match exactly."""
        scope = scope or Scope()
        return self._query_resource("/chemicalsystems", {"name": name, **scope.to_dict()})

    # -- relations --------------------------------------------------------------------------------

    def get_network_transformations(self, network: ScopedKeyLike) -> list[ScopedKey]:
        return self._query_resource(f"/networks/{as_scoped_key(network)}/transformations")

    def get_transformation_networks(self, transformation: ScopedKeyLike) -> list[ScopedKey]:
        return self._query_resource(f"/transformations/{as_scoped_key(transformation)}/networks")

    def get_network_chemicalsystems(self, network: ScopedKeyLike) -> list[ScopedKey]:
        return self._query_resource(f"/networks/{as_scoped_key(network)}/chemicalsystems")

    def get_chemicalsystem_networks(self, chemicalsystem: ScopedKeyLike) -> list[ScopedKey]:
        return self._query_resource(f"/chemicalsystems/{as_scoped_key(chemicalsystem)}/networks")

    def get_transformation_chemicalsystems(self, transformation: ScopedKeyLike) -> list[ScopedKey]:
        """``[stateA, stateB]`` (one item for a NonTransformation)."""
        return self._query_resource(f"/transformations/{as_scoped_key(transformation)}/chemicalsystems")

    def get_chemicalsystem_transformations(self, chemicalsystem: ScopedKeyLike) -> list[ScopedKey]:
        return self._query_resource(f"/chemicalsystems/{as_scoped_key(chemicalsystem)}/transformations")

    # -- weights ----------------------------------------------------------------------------------

    def get_network_weight(self, network: ScopedKeyLike) -> float:
        """A network's weight in [0, 1]: its share of compute relative to other networks."""
        return self._get_resource(f"/networks/{as_scoped_key(network)}/weight")

    def set_network_weight(self, network: ScopedKeyLike, weight: float) -> Optional[ScopedKey]:
        """Set a network's weight (0 stops its Tasks from being claimed)."""
        response = self._post_resource(f"/networks/{as_scoped_key(network)}/weight", _check_weight(weight))
        return optional_scoped_keys([response])[0]

    def get_networks_weight(self, networks: Sequence[ScopedKeyLike], batch_size: int = 1000) -> list[Optional[float]]:
        keys = wire_keys(networks)

        async def get_batch(batch: list[str]) -> list[Optional[float]]:
            return await self._post_resource_async("/bulk/networks/weight/get", {"networks": batch})

        return self._bulk(get_batch, keys, batch_size)

    def set_networks_weight(
        self, networks: Sequence[ScopedKeyLike], weights: Sequence[float], batch_size: int = 1000
    ) -> list[Optional[ScopedKey]]:
        if len(networks) != len(weights):
            raise ValueError(f"need one weight per network: got {len(weights)} for {len(networks)}")
        pairs = list(zip(wire_keys(networks), [_check_weight(w) for w in weights]))

        async def set_batch(batch: list[tuple[str, float]]) -> list[Optional[ScopedKey]]:
            data = {"networks": [n for n, _ in batch], "weights": [w for _, w in batch]}
            return optional_scoped_keys(await self._post_resource_async("/bulk/networks/weight/set", data))

        return self._bulk(set_batch, pairs, batch_size)

    # -- gufe objects -----------------------------------------------------------------------------

    def get_network(
        self, network: ScopedKeyLike, compress: bool = True, visualize: bool = True
    ) -> "AlchemicalNetwork":
        return self._get_gufe("network", "/networks", network, compress, visualize)

    def get_transformation(
        self, transformation: ScopedKeyLike, compress: bool = True, visualize: bool = True
    ) -> "Transformation":
        return self._get_gufe("transformation", "/transformations", transformation, compress, visualize)

    def get_chemicalsystem(
        self, chemicalsystem: ScopedKeyLike, compress: bool = True, visualize: bool = True
    ) -> "ChemicalSystem":
        return self._get_gufe("chemicalsystem", "/chemicalsystems", chemicalsystem, compress, visualize)

    def _get_gufe(
        self, kind: CacheKind, route: str, scoped_key: ScopedKeyLike, compress: bool, visualize: bool
    ) -> "GufeTokenizable":
        """A stored gufe object, from the local cache when possible (stored objects never change)."""
        from ..serialization.gufe_chain import from_keyed_chain_json

        sk = as_scoped_key(scoped_key)
        chain = self._cache_get(kind, sk)
        if chain is None:
            with progress_bar(f"Retrieving {sk.qualname} {sk.gufe_key}", visualize=visualize):
                chain = self._get_resource(f"{route}/{sk}", compress=compress)
            self._cache_set(kind, sk, chain)
        return from_keyed_chain_json(chain)

    # -- strategies -------------------------------------------------------------------------------

    def set_network_strategy(
        self,
        network: ScopedKeyLike,
        strategy: Optional["GufeTokenizable"],
        max_tasks_per_transformation: int = 3,
        task_scaling: str = "exponential",
        mode: str = "partial",
        sleep_interval: int = 3600,
    ) -> Optional[ScopedKey]:
        """Attach a Strategy (any gufe object) and its settings to a network; ``None`` removes it.

        The server stores the Strategy and its state for a strategist service to run.
        """
        from ..serialization.gufe_chain import to_keyed_chain_json

        data = {
            "strategy": None if strategy is None else to_keyed_chain_json(strategy),
            "max_tasks_per_transformation": max_tasks_per_transformation,
            "task_scaling": task_scaling,
            "mode": mode,
            "sleep_interval": sleep_interval,
        }
        response = self._post_resource(f"/networks/{as_scoped_key(network)}/strategy", data)
        return optional_scoped_keys([response])[0]

    def get_network_strategy(self, network: ScopedKeyLike) -> Optional["GufeTokenizable"]:
        from ..serialization.gufe_chain import from_keyed_chain_json

        chain = self._get_resource(f"/networks/{as_scoped_key(network)}/strategy")
        return None if chain is None else from_keyed_chain_json(chain)

    def get_network_strategy_state(self, network: ScopedKeyLike) -> Optional[dict[str, Any]]:
        """The strategy's state (mode, status, iterations, last error, ...), or ``None`` without a strategy."""
        return self._get_resource(f"/networks/{as_scoped_key(network)}/strategy/state")

    def get_network_strategy_status(self, network: ScopedKeyLike) -> Optional[str]:
        """``awake``, ``dormant``, ``error``, or ``None`` without a strategy."""
        return self._get_resource(f"/networks/{as_scoped_key(network)}/strategy/status")

    def set_network_strategy_awake(self, network: ScopedKeyLike) -> Optional[ScopedKey]:
        """Wake a dormant or errored strategy (clearing its error)."""
        response = self._post_resource(f"/networks/{as_scoped_key(network)}/strategy/awake", {})
        return optional_scoped_keys([response])[0]

    # -- status views -----------------------------------------------------------------------------

    def get_scope_status(
        self, scope: Optional[Scope] = None, visualize: bool = True, network_state: Optional[str] = "active"
    ) -> dict[str, int]:
        """``{status: count}`` of Tasks in ``scope`` (default: all yours) on networks whose state
        matches the ``network_state`` regex (``None``: any state)."""
        scope = scope or Scope()
        counts = self._get_resource(f"/scopes/{scope}/status", {"network_state": network_state})
        counts = StatusCounts(counts, f"Status of Tasks in scope {scope}")
        if visualize:
            print_status_table(counts, counts.title)
        return counts

    def get_network_status(self, network: ScopedKeyLike, visualize: bool = True) -> dict[str, int]:
        sk = as_scoped_key(network)
        counts = self._get_resource(f"/networks/{sk}/status")
        counts = StatusCounts(counts, f"Status of Tasks in network {sk}")
        if visualize:
            print_status_table(counts, counts.title)
        return counts

    def get_networks_status(self, networks: Sequence[ScopedKeyLike], batch_size: int = 1000) -> list[dict[str, int]]:
        """:meth:`get_network_status` for many networks (an empty dict for an unknown one)."""
        keys = wire_keys(networks)

        async def get_batch(batch: list[str]) -> list[dict[str, int]]:
            return await self._post_resource_async("/bulk/networks/status", {"networks": batch})

        return self._bulk(get_batch, keys, batch_size)

    def get_transformation_status(self, transformation: ScopedKeyLike, visualize: bool = True) -> dict[str, int]:
        sk = as_scoped_key(transformation)
        counts = self._get_resource(f"/transformations/{sk}/status")
        counts = StatusCounts(counts, f"Status of Tasks of Transformation {sk}")
        if visualize:
            print_status_table(counts, counts.title)
        return counts

