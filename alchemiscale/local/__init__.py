"""One-machine deployments (Neo4j, both APIs, compute services) and the ``alchemiscale demo``."""

from .deployment import DEFAULT_DATA_DIR, ComponentStatus, LocalDeployment, LocalDeploymentError, UpResult

__all__ = ["DEFAULT_DATA_DIR", "ComponentStatus", "LocalDeployment", "LocalDeploymentError", "UpResult"]
