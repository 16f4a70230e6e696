"""The compute API's routers, one module per concern."""

from . import claims, managers, services, tasks

ROUTERS = (services.router, claims.router, tasks.router, managers.router)

__all__ = ["ROUTERS"]
