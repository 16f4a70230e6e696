"""State store: finding networks, Transformations and ChemicalSystems, and walking between them.

Networks reach their Transformations through ``DEPENDS_ON {attribute: 'edges'}`` and their
ChemicalSystems through ``{attribute: 'nodes'}``; Transformations reach ChemicalSystems through
``stateA``/``stateB`` (or ``system`` for a NonTransformation). Every value is a parameter.
"""

from __future__ import annotations

from typing import Optional, Union

from neo4j.exceptions import ClientError

from ...errors import InvalidInputError, NotFoundError
from ...models import Scope, ScopedKey
from .chaingraph import STATE_ATTRIBUTES
from .scoping import ScopedKeyLike, as_scope, as_scoped_key, scope_filter


class NetworkQueriesMixin:
    # -- queries by property ------------------------------------------------------------

    def query_networks(
        self,
        name: Optional[str] = None,
        key: Optional[str] = None,
        scope: Union[Scope, str, None] = None,
        state: Optional[str] = None,
    ) -> list[ScopedKey]:
        """Networks in ``scope`` whose name and state match the given regexes (and gufe key, exactly)."""
        where, params = scope_filter("an", as_scope(scope))
        conditions = [where]
        if name is not None:
            conditions.append("an.name =~ $name")
            params["name"] = name
        if key is not None:
            conditions.append("an._gufe_key = $key")
            params["key"] = str(key)
        if state is not None:
            conditions.append("m.state =~ $state")
            params["state"] = state
        query = f"""
            MATCH (m:NetworkMark)-[:MARKS]->(an:AlchemicalNetwork)
            WHERE {' AND '.join(conditions)}
            RETURN an._scoped_key AS sk
        """
        return self._scoped_keys_from(query, params)

    def query_transformations(
        self, name: Optional[str] = None, key: Optional[str] = None, scope: Union[Scope, str, None] = None
    ) -> list[ScopedKey]:
        """Transformations and NonTransformations in ``scope`` with exactly this name and/or gufe key."""
        return self._query_by_label("Transformation|NonTransformation", name, key, scope)

    def query_chemicalsystems(
        self, name: Optional[str] = None, key: Optional[str] = None, scope: Union[Scope, str, None] = None
    ) -> list[ScopedKey]:
        """ChemicalSystems in ``scope`` with exactly this name and/or gufe key."""
        return self._query_by_label("ChemicalSystem", name, key, scope)

    def _query_by_label(self, labels: str, name, key, scope) -> list[ScopedKey]:
        where, params = scope_filter("n", as_scope(scope))
        conditions = [where]
        if name is not None:
            conditions.append("n.name = $name")
            params["name"] = name
        if key is not None:
            conditions.append("n._gufe_key = $key")
            params["key"] = str(key)
        query = f"MATCH (n:{labels}) WHERE {' AND '.join(conditions)} RETURN n._scoped_key AS sk"
        return self._scoped_keys_from(query, params)

    def _scoped_keys_from(self, query: str, params: dict) -> list[ScopedKey]:
        try:
            records = self.execute_query(query, params)
        except ClientError as e:
            if "PatternSyntaxException" in str(e.message) or "Invalid Regex" in str(e.message):
                raise InvalidInputError(f"invalid regular expression: {e.message}") from None
            raise
        return sorted({ScopedKey.from_str(r["sk"]) for r in records})

    # -- relations ----------------------------------------------------------------------

    def get_network_transformations(self, network: ScopedKeyLike) -> list[ScopedKey]:
        return self._related(network, "AlchemicalNetwork", "(x)-[:DEPENDS_ON {attribute: 'edges'}]->(y)")

    def get_transformation_networks(self, transformation: ScopedKeyLike) -> list[ScopedKey]:
        return self._related(
            transformation, "GufeTokenizable", "(x)<-[:DEPENDS_ON {attribute: 'edges'}]-(y:AlchemicalNetwork)",
            "Transformation",
        )

    def get_network_chemicalsystems(self, network: ScopedKeyLike) -> list[ScopedKey]:
        return self._related(network, "AlchemicalNetwork", "(x)-[:DEPENDS_ON {attribute: 'nodes'}]->(y)")

    def get_chemicalsystem_networks(self, chemicalsystem: ScopedKeyLike) -> list[ScopedKey]:
        return self._related(
            chemicalsystem, "ChemicalSystem", "(x)<-[:DEPENDS_ON {attribute: 'nodes'}]-(y:AlchemicalNetwork)"
        )

    def get_chemicalsystem_transformations(self, chemicalsystem: ScopedKeyLike) -> list[ScopedKey]:
        return self._related(
            chemicalsystem, "ChemicalSystem", "(x)<-[r:DEPENDS_ON]-(y) WHERE r.attribute IN $state_attributes"
        )

    def get_transformation_chemicalsystems(self, transformation: ScopedKeyLike) -> list[ScopedKey]:
        """``[stateA, stateB]``, or ``[system]`` for a NonTransformation."""
        sk = as_scoped_key(transformation)
        records = self.execute_query(
            """
            MATCH (x:GufeTokenizable {_scoped_key: $sk})
            OPTIONAL MATCH (x)-[r:DEPENDS_ON]->(cs:ChemicalSystem)
            WHERE r.attribute IN $state_attributes
            WITH x, r, cs ORDER BY r.attribute
            RETURN x._scoped_key AS found, collect(cs._scoped_key) AS sks
            """,
            {"sk": str(sk), "state_attributes": list(STATE_ATTRIBUTES)},
        )
        if not records:
            raise NotFoundError(f"no Transformation with ScopedKey {sk} in the state store")
        return [ScopedKey.from_str(s) for s in records[0]["sks"]]

    def _related(self, scoped_key: ScopedKeyLike, label: str, pattern: str, what: str = "") -> list[ScopedKey]:
        """ScopedKeys of the ``y`` nodes related to ``x`` by ``pattern``; KeyError if ``x`` does not exist."""
        sk = as_scoped_key(scoped_key)
        records = self.execute_query(
            f"""
            MATCH (x:GufeTokenizable {{_scoped_key: $sk}})
            WHERE x:{label}
            OPTIONAL MATCH {pattern}
            RETURN x._scoped_key AS found, collect(DISTINCT y._scoped_key) AS sks
            """,
            {"sk": str(sk), "state_attributes": list(STATE_ATTRIBUTES)},
        )
        if not records:
            raise NotFoundError(f"no {what or label} with ScopedKey {sk} in the state store")
        return sorted(ScopedKey.from_str(s) for s in records[0]["sks"])
