"""The user API's routers, one module per concern; every route needs a user token."""

from . import actioning, chemicalsystems, networks, restartpatterns, results, status, strategies, tasks, transformations

ROUTERS = [
    networks.router,
    transformations.router,
    chemicalsystems.router,
    tasks.router,
    status.router,
    actioning.router,
    restartpatterns.router,
    results.router,
    strategies.router,
]
