"""One-machine deployments (Neo4j, both APIs, compute services) and the ``alchemiscale demo``.

Nothing is imported here, so ``python -m alchemiscale.local.neo4jserver`` runs its module once.
"""
