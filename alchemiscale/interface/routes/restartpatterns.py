"""Restart patterns: regexes on a network's TaskHub that send failed Tasks back to waiting.

Every route is keyed by the network and resolved to its TaskHub. Clearing answers GET, the verb
upstream clients use, and POST, which proxies, caches and crawlers do not replay as they may a GET.
"""

from __future__ import annotations

from typing import Optional

from ...base.api import N4jsDepends
from ..bodies import NetworksBody, RestartPatterns, RestartPatternsAdd, RestartPatternsMaxRetries
from .common import NETWORK, UserToken, apply_permitted, authorized_key, user_router

router = user_router()


@router.post("/networks/{network_scoped_key}/restartpatterns/add")
def add_restart_patterns(
    network_scoped_key: str, body: RestartPatternsAdd, token_data: UserToken, n4js: N4jsDepends
) -> list[str]:
    """Add patterns, each allowing ``num_allowed_restarts`` restarts per Task; errored Tasks are resolved at once."""
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    n4js.add_task_restart_patterns(n4js.get_taskhub(sk), body.patterns, body.num_allowed_restarts)
    return [str(sk)]


@router.post("/networks/{network_scoped_key}/restartpatterns/remove")
def remove_restart_patterns(
    network_scoped_key: str, body: RestartPatterns, token_data: UserToken, n4js: N4jsDepends
) -> list[str]:
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    n4js.remove_task_restart_patterns(n4js.get_taskhub(sk), body.patterns)
    return [str(sk)]


@router.get("/networks/{network_scoped_key}/restartpatterns/clear")
@router.post("/networks/{network_scoped_key}/restartpatterns/clear")
def clear_restart_patterns(network_scoped_key: str, token_data: UserToken, n4js: N4jsDepends) -> list[str]:
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    n4js.clear_task_restart_patterns(n4js.get_taskhub(sk))
    return [str(sk)]


@router.post("/networks/{network_scoped_key}/restartpatterns/maxretries")
def set_restart_patterns_max_retries(
    network_scoped_key: str, body: RestartPatternsMaxRetries, token_data: UserToken, n4js: N4jsDepends
) -> list[str]:
    sk = authorized_key(network_scoped_key, token_data, NETWORK)
    n4js.set_task_restart_patterns_max_retries(n4js.get_taskhub(sk), body.patterns, body.max_retries)
    return [str(sk)]


@router.post("/bulk/networks/restartpatterns/get")
def get_restart_patterns(
    body: NetworksBody, token_data: UserToken, n4js: N4jsDepends
) -> dict[str, Optional[list[tuple[str, int]]]]:
    """``{network: [[pattern, max_retries], ...]}``; empty for an unknown network, null for a foreign one."""

    def patterns(networks):
        taskhubs = n4js.get_taskhubs(networks)
        per_hub = n4js.get_task_restart_patterns([hub for hub in taskhubs if hub is not None])
        return [sorted(per_hub[hub]) if hub is not None else [] for hub in taskhubs]

    per_network = apply_permitted(body.networks, token_data, patterns)
    return {str(network): found for network, found in zip(body.networks, per_network)}
