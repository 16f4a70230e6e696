"""State store: the read-only summaries behind the user API's dashboard (one query per page part).

Every value is a parameter; callers pass only ScopedKeys and scopes they have authorized.
"""

from __future__ import annotations

from typing import Any

from .claims import scoped_key_str
from ...models import Scope
from .scoping import ScopedKeyLike, scope_filter, to_native

_NETWORK_TRANSFORMATIONS = """
MATCH (an:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})-[:DEPENDS_ON {attribute: 'edges'}]->(tf)
OPTIONAL MATCH (tf)<-[:PERFORMS]-(t:Task)
WITH tf, t.status AS status, count(t) AS n
WITH tf, collect(CASE WHEN status IS NULL THEN NULL ELSE [status, n] END) AS counts
OPTIONAL MATCH (tf)<-[:PERFORMS]-(:Task)-[:RESULTS_IN]->(r:ProtocolDAGResultRef)
WITH tf, counts, r ORDER BY r.datetime_created DESC
WITH tf, counts,
     [x IN collect(r) WHERE x.ok] AS results,
     [x IN collect(r) WHERE NOT x.ok] AS failures
RETURN tf._scoped_key AS transformation, tf.name AS name, counts,
       size(results) AS n_results, size(failures) AS n_failures,
       CASE WHEN size(results) > 0 THEN results[0]._scoped_key ELSE NULL END AS latest_result
ORDER BY name, transformation
"""

_NETWORK_FAILED_TASKS = """
MATCH (:GufeTokenizable:AlchemicalNetwork {_scoped_key: $network})-[:DEPENDS_ON {attribute: 'edges'}]->(tf)
MATCH (tf)<-[:PERFORMS]-(t:Task)-[:RESULTS_IN]->(r:ProtocolDAGResultRef {ok: false})
RETURN t._scoped_key AS task, tf._scoped_key AS transformation, tf.name AS name, t.status AS status,
       count(r) AS n_failures, max(r.datetime_created) AS latest
ORDER BY latest DESC, task
"""

_COMPUTE_SERVICES = """
MATCH (csr:ComputeServiceRegistration)
OPTIONAL MATCH (csr)-[:CLAIMS]->(t:Task)
WITH csr, [sk IN collect(t._scoped_key) WHERE sk IS NOT NULL] AS claimed
RETURN csr.identifier AS identifier, csr.registered AS registered, csr.heartbeat AS heartbeat,
       csr.manager_name AS manager, claimed
ORDER BY identifier
"""

_COMPUTE_MANAGERS = """
MATCH (cmr:ComputeManagerRegistration)
RETURN cmr.name AS name, cmr.status AS status, cmr.registered AS registered,
       cmr.last_status_update AS last_status_update, cmr.saturation AS saturation
ORDER BY name
"""


class DashboardMixin:
    def get_scope_network_summaries(self, scope: Scope) -> list[dict[str, Any]]:
        """Every network in ``scope``: ``network``, ``name``, ``state`` and ``counts`` (Task status: n)."""
        where, params = scope_filter("an", scope)
        query = f"""
            MATCH (m:NetworkMark)-[:MARKS]->(an:AlchemicalNetwork)
            WHERE {where}
            OPTIONAL MATCH (an)-[:DEPENDS_ON {{attribute: 'edges'}}]->()<-[:PERFORMS]-(t:Task)
            WITH an, m, t.status AS status, count(t) AS n
            WITH an, m, collect(CASE WHEN status IS NULL THEN NULL ELSE [status, n] END) AS counts
            RETURN an._scoped_key AS network, an.name AS name, m.state AS state, counts
            ORDER BY name, network
        """
        return [
            {"network": r["network"], "name": r["name"], "state": r["state"], "counts": dict(r["counts"])}
            for r in self.execute_query(query, params)
        ]

    def get_network_transformation_summaries(self, network: ScopedKeyLike) -> list[dict[str, Any]]:
        """Per Transformation of the network: ``transformation``, ``name``, ``counts`` (status: n),
        ``n_results``, ``n_failures`` and ``latest_result`` (the newest successful ref, or None)."""
        records = self.execute_query(_NETWORK_TRANSFORMATIONS, {"network": scoped_key_str(network)})
        return [
            {
                "transformation": r["transformation"],
                "name": r["name"],
                "counts": dict(r["counts"]),
                "n_results": r["n_results"],
                "n_failures": r["n_failures"],
                "latest_result": r["latest_result"],
            }
            for r in records
        ]

    def get_network_failed_tasks(self, network: ScopedKeyLike) -> list[dict[str, Any]]:
        """The network's Tasks with failed results, most recent failure first."""
        records = self.execute_query(_NETWORK_FAILED_TASKS, {"network": scoped_key_str(network)})
        return [_native(r) for r in records]

    def list_compute_services(self) -> list[dict[str, Any]]:
        """Every live compute service registration with its last heartbeat and claimed Tasks."""
        return [_native(r) for r in self.execute_query(_COMPUTE_SERVICES, {})]

    def list_compute_managers(self) -> list[dict[str, Any]]:
        """Every compute manager registration with its status and last update."""
        return [_native(r) for r in self.execute_query(_COMPUTE_MANAGERS, {})]


def _native(record) -> dict[str, Any]:
    return {name: to_native(value) for name, value in record.items()}
