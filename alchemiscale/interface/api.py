"""``AlchemiscaleAPI``: the user-facing HTTP API (serve ``alchemiscale.interface.api:app``).

Networks, Tasks, statuses, actioning, restart patterns, results and strategies; see
``docs/api.rst`` for every route. Objects travel as keyed-chain JSON, so this module and
everything it imports stay free of gufe, rdkit, openmm, openff and Protocol packages.
Settings (Neo4j, object store, JWT) are read from the environment on first use.
"""

from __future__ import annotations

from fastapi import FastAPI

from ..base.api import create_base_app
from ..security.models import CredentialedUserIdentity
from .dashboard import add_dashboard
from .routes import ROUTERS

API_NAME = "AlchemiscaleAPI"


def create_app() -> FastAPI:
    app = create_base_app(API_NAME, CredentialedUserIdentity)
    for router in ROUTERS:
        app.include_router(router)
    add_dashboard(app)
    return app


app = create_app()
