"""The upstream side of the side-by-side benchmarks; runs under upstream alchemiscale 0.8.0's environment.

``bench/upstream.py`` runs this file as a script with ``.venv-upstream/bin/python`` from a working
directory outside the repository, so ``import alchemiscale`` is upstream's package; nothing of this
repository is imported. It reads one JSON config (its only argument), does the config's ``action``
with upstream's own clients and ``Neo4jStore``, measured exactly as the project's side is, and
writes ``{"figures": [...]}`` (each with the load average when measured) to the config's ``output``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
import traceback
from pathlib import Path


def load() -> float:
    return round(os.getloadavg()[0], 2)


class Figures:
    def __init__(self):
        self.rows: list[dict] = []

    def add(self, name: str, value: float, unit: str, **details) -> None:
        self.rows.append({"name": name, "value": value, "unit": unit, "load": load(), **details})
        print(f"upstream: {name} = {value:.3f} {unit} (load {load():.1f})", flush=True)


def store(config):
    from alchemiscale.settings import Neo4jStoreSettings
    from alchemiscale.storage.statestore import Neo4jStore

    neo4j = config["neo4j"]
    settings = Neo4jStoreSettings(
        NEO4J_URL=neo4j["url"], NEO4J_USER=neo4j["user"], NEO4J_PASS=neo4j["password"], NEO4J_DBNAME=neo4j["dbname"]
    )
    return Neo4jStore(settings)


def user_client(config):
    from alchemiscale.interface.client import AlchemiscaleClient

    return AlchemiscaleClient(config["user_url"], *config["user_identity"], use_local_cache=False, max_retries=2)


def compute_client(config):
    from alchemiscale.compute.client import AlchemiscaleComputeClient

    return AlchemiscaleComputeClient(config["compute_url"], *config["compute_identity"], max_retries=2)


def network_from(path: str):
    """The network a JSON-native keyed chain file holds (gufe's codecs restore settings and quantities)."""
    from gufe.tokenization import JSON_HANDLER, KeyedChain

    return KeyedChain(json.loads(Path(path).read_text(), cls=JSON_HANDLER.decoder)).to_gufe()


def scope(text: str):
    from alchemiscale.models import Scope

    return Scope.from_str(text)


def timed(action):
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


# -- actions ---------------------------------------------------------------------------------------


def setup(config, figures: Figures) -> None:
    """Schema and the benchmark's user and compute identities (every Scope)."""
    from alchemiscale.security.auth import hash_key
    from alchemiscale.security.models import CredentialedComputeIdentity, CredentialedUserIdentity

    n4js = store(config)
    n4js.initialize()
    user, compute = config["user_identity"], config["compute_identity"]
    n4js.create_credentialed_entity(
        CredentialedUserIdentity(identifier=user[0], hashed_key=hash_key(user[1]), scopes=["*-*-*"])
    )
    n4js.create_credentialed_entity(
        CredentialedComputeIdentity(identifier=compute[0], hashed_key=hash_key(compute[1]), scopes=["*-*-*"])
    )


def networks(config, figures: Figures) -> None:
    """``create_network`` and ``get_network`` over HTTP, each into/from a fresh Scope, per repeat."""
    for entry in config["networks"]:
        network = network_from(entry["chain_file"])
        size = entry["size"]
        submitted, fetched = [], []
        for scope_text in entry["scopes"]:
            client = user_client(config)
            client.list_scopes()  # authenticate before timing
            seconds, network_sk = timed(lambda: client.create_network(network, scope(scope_text), visualize=False))
            submitted.append(seconds)
            client = user_client(config)
            client.list_scopes()
            seconds, back = timed(lambda: client.get_network(network_sk, visualize=False))
            if back.key != network.key:
                raise RuntimeError(f"upstream get_network returned {back.key}, not {network.key}")
            fetched.append(seconds)
        figures.add(f"create_network {size}", statistics.median(submitted), "s", repeats=submitted)
        figures.add(f"get_network {size}", statistics.median(fetched), "s", repeats=fetched)


def prepare_hub(config, n4js, chain_file: str, scope_text: str, n_tasks: int):
    """A network in a fresh Scope with ``n_tasks`` Tasks actioned on its TaskHub; the hub's ScopedKey."""
    network = network_from(chain_file)
    network_sk, taskhub_sk, _ = n4js.assemble_network(network, scope(scope_text))
    transformations = [t for t in n4js.get_network_transformations(network_sk)]
    tasks = n4js.create_tasks([transformations[i % len(transformations)] for i in range(n_tasks)])
    n4js.action_tasks(tasks, taskhub_sk)
    return taskhub_sk


def claim_window(claim_once, clients: int, seconds: float) -> tuple[int, float]:
    """``clients`` threads claiming one Task at a time for ``seconds``; (claims, elapsed)."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i):
        while time.monotonic() < stop:
            got = claim_once(i)
            if not got:
                break
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - start


def claims(config, figures: Figures) -> None:
    """Claims/s at each client count: store calls from threads, and compute clients over HTTP.

    The clients (and their registrations) are made once per level; every repeat gets a fresh hub.
    """
    from alchemiscale.storage.models import ComputeServiceID, ComputeServiceRegistration

    n4js = store(config)
    spec = config["claims"]
    for level in spec["levels"]:
        for mode in ("store", "api"):
            if mode == "store":
                service = ComputeServiceID.new_from_name(f"bench_store_{level}")
                n4js.register_computeservice(ComputeServiceRegistration.from_now(service))
                services = [service] * level
                clients = [n4js] * level
            else:
                services = [ComputeServiceID.new_from_name(f"bench_api_{level}_{i}") for i in range(level)]
                clients = [compute_client(config) for _ in range(level)]
                for client, service in zip(clients, services):
                    client.register(service)
            rates = []
            for scope_text in spec["scopes"][f"{mode}-{level}"]:
                hub = prepare_hub(config, n4js, spec["chain_file"], scope_text, spec["tasks"])

                def claim_once(i, hub=hub):
                    return clients[i].claim_taskhub_tasks(hub, services[i], count=1)[0] is not None

                claimed, elapsed = claim_window(claim_once, level, spec["seconds"])
                rates.append(claimed / elapsed)
            figures.add(f"claims {mode} {level} clients", statistics.median(rates), "claims/s", repeats=rates)


def status(config, figures: Figures) -> None:
    """Scope and network status of a Scope whose Tasks were written in bulk: first call, then median."""
    n4js = store(config)
    for entry in config["status"]:
        size, repeats = entry["size"], entry["repeats"]
        target = scope(entry["scope"])
        client = user_client(config)
        client.list_scopes()
        calls = {
            "store get_scope_status": lambda: n4js.get_scope_status(target),
            "get_scope_status": lambda: client.get_scope_status(target, visualize=False),
            "get_network_status": lambda: client.get_network_status(entry["network"], visualize=False),
        }
        for name, call in calls.items():
            first, counts = timed(call)
            if counts != entry["expected"]:
                raise RuntimeError(f"upstream {name} counted {counts}, expected {entry['expected']}")
            figures.add(f"{name} {size} Tasks (first call)", first, "s")
            rest = [timed(call)[0] for _ in range(repeats)]
            figures.add(f"{name} {size} Tasks (median of {repeats})", statistics.median(rest), "s", repeats=rest)


def network_key(config, figures: Figures) -> None:
    """Submit a network to a Scope through the store (no timing): its ScopedKey, for bulk Task writes."""
    n4js = store(config)
    network = network_from(config["chain_file"])
    network_sk, _, _ = n4js.assemble_network(network, scope(config["scope"]))
    figures.rows.append({"name": "network", "value": str(network_sk), "unit": ""})


ACTIONS = {"setup": setup, "networks": networks, "claims": claims, "status": status, "network_key": network_key}


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    figures = Figures()
    import alchemiscale

    try:
        ACTIONS[config["action"]](config, figures)
        error = None
    except Exception:
        error = traceback.format_exc()
        print(error, file=sys.stderr, flush=True)
    Path(config["output"]).write_text(
        json.dumps({"alchemiscale": alchemiscale.__version__, "figures": figures.rows, "error": error}, default=str)
    )
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
