"""Serving the user API never imports gufe, rdkit, openmm, openff or any Protocol package.

A clean subprocess imports the app, builds the test world from keyed-chain JSON, calls every
route with settings from the environment (as a deployment would), then reports ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from .dataset import SECRET
from .route_requests import ROUTES

FORBIDDEN = ("gufe", "rdkit", "openmm", "openff", "openfe", "feflow", "openmmtools", "pymbar", "alchemiscale.protocols",
             "alchemiscale.serialization.gufe_chain", "alchemiscale.examples", "alchemiscale.tests.protocols")

CHILD = textwrap.dedent(
    """
    import json, sys, uuid
    from alchemiscale.interface.api import app
    from alchemiscale.base.api import get_n4js_depends, get_objectstore_depends
    from alchemiscale.models import Scope
    from alchemiscale.settings import get_neo4jstore_settings
    from alchemiscale.tests.integration.identities import bearer
    from alchemiscale.tests.integration.interface.dataset import populate
    from alchemiscale.storage.statestore import Neo4jStore
    from alchemiscale.tests.integration.interface.route_requests import ROUTES, app_routes
    from alchemiscale.interface.dashboard.routes import COOKIE_NAME
    from fastapi.testclient import TestClient

    chains = json.load(open(sys.argv[1]))
    store = Neo4jStore.from_settings(get_neo4jstore_settings())
    store.initialize()
    objectstore = get_objectstore_depends()
    objectstore.initialize()
    app.dependency_overrides[get_n4js_depends] = lambda: store  # strategy storage; the rest is as deployed
    world = populate(store, objectstore, chains["network"], chains["spare"], Scope("iso", "lation", f"p{uuid.uuid4().hex}"))
    statuses = {}
    with TestClient(app) as client:
        for key in app_routes(app):
            call = ROUTES[key](world)
            if call.access.startswith("dashboard"):  # the dashboard reads its cookie, not a bearer token
                headers = {"Cookie": f"{COOKIE_NAME}={world.user_token}"}
            else:
                headers = bearer(world.user_token)
            response = call.send(client, headers)
            statuses[" ".join(key)] = response.status_code
    print(json.dumps({"statuses": statuses, "modules": sorted(sys.modules)}))
    """
)


def test_serving_every_route_imports_no_chemistry(neo4j_env, network_chain, spare_chain, tmp_path):
    chains = tmp_path / "chains.json"
    chains.write_text(json.dumps({"network": network_chain, "spare": spare_chain}))
    env = {
        **os.environ,
        "JWT_SECRET_KEY": SECRET,
        "ALCHEMISCALE_OBJECT_STORE": "local",
        "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(tmp_path / "objects"),
    }
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(chains)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    failed = {route: code for route, code in report["statuses"].items() if code != 200}
    assert not failed
    assert len(report["statuses"]) == len(ROUTES)
    leaked = [m for m in report["modules"] if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert leaked == []
    assert "alchemiscale.interface.api" in report["modules"]
