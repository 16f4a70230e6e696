"""Benchmarks 1 and 2: submitting networks through ``create_network`` and reading them back.

The networks are openfe-planned (``data.rbfe_network``): solvent and complex legs with mappings,
a protein and RelativeHybridTopologyProtocol settings. Every figure is the median of ``REPEATS``
submissions (each into a fresh Scope) or reads, with the load average when measured; upstream
0.8.0's own client and servers get the same networks in the same run, and project/upstream
ratios are printed (below 1: the project is faster).

Baselines, measured on the same Neo4j in the same run:

- submission: the very node and edge rows the store would write, sent as one UNWIND statement
  straight to Neo4j (no client encoding, HTTP, validation or existence checks);
- retrieval: the store's own keyed-chain query run straight on the driver (no HTTP, no gufe).

Client-side gufe work (building the keyed chain, rebuilding objects) is reported separately,
since it is part of what a user waits for but not of what the server does.
"""

from __future__ import annotations

import statistics
from typing import Optional

from gufe import AlchemicalNetwork

from alchemiscale.serialization.gufe_chain import from_keyed_chain_json, to_keyed_chain_json
from alchemiscale.serialization.keyedchain import KeyedChain
from alchemiscale.models import ScopedKey
from alchemiscale.storage.statestore.chaingraph import chain_rows

from .data import rbfe_network
from .harness import Report, Stack, timed, unique_scope
from .upstream import UpstreamStack

SUBMIT_TARGET_SECONDS = 20.0
SUBMIT_TARGET_RATIO = 3.0
RETRIEVE_TARGET_SECONDS = 10.0
TARGET_SIZE = 2000
REPEATS = 3


def median_of(action, repeats: int = REPEATS) -> tuple[float, list[float], object]:
    """Median seconds of ``repeats`` calls of ``action()``, every time, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        seconds, result = timed(action)
        times.append(seconds)
    return statistics.median(times), times, result

# Everything a network's chain holds, written in one statement: nodes, then their DEPENDS_ON edges.
_BULK_WRITE = """
UNWIND $nodes AS row
CREATE (n:GufeTokenizable)
SET n:$(row.label), n += row.props
WITH count(n) AS created
UNWIND $edges AS e
MATCH (a:GufeTokenizable {_scoped_key: e.src})
MATCH (b:GufeTokenizable {_scoped_key: e.dst})
CREATE (a)-[r:DEPENDS_ON]->(b)
SET r += e.props
RETURN created, count(r) AS linked
"""

_CHAIN_READ = """
MATCH (root:GufeTokenizable {_scoped_key: $sk})
CALL (root) {
    MATCH (root)-[:DEPENDS_ON*0..]->(n)
    RETURN DISTINCT n
}
RETURN n._gufe_key AS key, n._json AS json
"""


def bulk_write_seconds(stack: Stack, chain: list) -> float:
    """Seconds to write ``chain``'s rows (built beforehand) into a fresh Scope with one statement."""
    rows = chain_rows(KeyedChain.from_json(chain), unique_scope("bench", "baseline", "bulk"))
    seconds, records = timed(lambda: stack.cypher(_BULK_WRITE, nodes=rows.nodes, edges=rows.edges))
    if records[0]["created"] != len(rows.nodes) or records[0]["linked"] != len(rows.edges):
        raise RuntimeError(f"baseline wrote {records[0]} instead of {len(rows.nodes)} nodes, {len(rows.edges)} edges")
    return seconds


def warm_up(stack: Stack) -> None:
    """Submit and read a tiny network both ways, so neither side pays Cypher planning in the figures."""
    network = rbfe_network(2, name="warm-up network")
    with stack.user_client() as client:
        network_sk = client.create_network(network, unique_scope("bench", "warmup", "p"), visualize=False)
        client.get_network(network_sk, visualize=False)
    bulk_write_seconds(stack, to_keyed_chain_json(network))
    stack.cypher(_CHAIN_READ, sk=str(network_sk))


def run(stack: Stack, sizes: tuple[int, ...], preset: str, upstream: Optional[UpstreamStack] = None) -> Report:
    report = Report("networks", preset)
    warm_up(stack)
    for size in sizes:
        build_seconds, network = timed(lambda: rbfe_network(size, name=f"bench network {size}"))
        report.add(f"build gufe network ({size} transformations, not part of submission)", build_seconds, "s")
        submitted = submit(stack, report, network, size)
        retrieve(stack, report, network, submitted, size)
        if upstream is not None:
            compare_upstream(report, upstream, network, size)
    return report


def submit(stack: Stack, report: Report, network: AlchemicalNetwork, size: int) -> ScopedKey:
    times = []
    for _ in range(REPEATS):
        with stack.user_client() as client:
            client.get_scopes()  # authenticate before timing
            seconds, network_sk = timed(
                lambda: client.create_network(network, unique_scope("bench", "submit", f"n{size}"), visualize=False)
            )
        times.append(seconds)
    seconds = statistics.median(times)
    chain_seconds, chain = timed(lambda: to_keyed_chain_json(network))
    baseline = statistics.median(bulk_write_seconds(stack, chain) for _ in range(REPEATS))
    at_target = size == TARGET_SIZE
    report.add(
        f"create_network {size} transformations (median of {REPEATS})",
        seconds,
        "s",
        repeats=times,
        **({"target": f"<= {SUBMIT_TARGET_SECONDS:g} s", "met": seconds <= SUBMIT_TARGET_SECONDS} if at_target else {}),
    )
    report.add(f"  of which client-side keyed chain encoding ({size})", chain_seconds, "s")
    report.add(f"baseline: one bulk UNWIND into Neo4j ({size}, {len(chain)} objects, median)", baseline, "s")
    ratio = seconds / baseline
    report.add(
        f"create_network / baseline ({size})",
        ratio,
        "x",
        **({"target": f"<= {SUBMIT_TARGET_RATIO:g}x", "met": ratio <= SUBMIT_TARGET_RATIO} if at_target else {}),
    )
    return network_sk


def retrieve(stack: Stack, report: Report, network: AlchemicalNetwork, network_sk: ScopedKey, size: int) -> None:
    times = []
    for _ in range(REPEATS):
        with stack.user_client() as client:  # a fresh client: nothing cached in memory either
            client.get_scopes()
            seconds, fetched = timed(lambda: client.get_network(network_sk, visualize=False))
        times.append(seconds)
        if fetched.key != network.key:
            raise RuntimeError(f"get_network returned a different network: {fetched.key} != {network.key}")
    seconds = statistics.median(times)
    baseline, _, records = median_of(lambda: stack.cypher(_CHAIN_READ, sk=str(network_sk)))
    chain = to_keyed_chain_json(network)
    decode_seconds, _ = timed(lambda: from_keyed_chain_json(chain))
    at_target = size == TARGET_SIZE
    report.add(
        f"get_network {size} transformations (median of {REPEATS})",
        seconds,
        "s",
        repeats=times,
        **(
            {"target": f"<= {RETRIEVE_TARGET_SECONDS:g} s", "met": seconds <= RETRIEVE_TARGET_SECONDS}
            if at_target
            else {}
        ),
    )
    report.add(f"  of which client-side gufe decoding ({size})", decode_seconds, "s")
    report.add(f"baseline: keyed-chain Cypher read on the driver ({size}, {len(records)} objects, median)", baseline, "s")
    report.add(f"get_network / baseline ({size})", seconds / baseline, "x")


def compare_upstream(report: Report, upstream: UpstreamStack, network: AlchemicalNetwork, size: int) -> None:
    """The same network through upstream's client and servers, ``REPEATS`` times each way."""
    chain_file = upstream.write_chain(f"network-{size}", to_keyed_chain_json(network))
    scopes = [str(unique_scope("bench", "submit", f"n{size}")) for _ in range(REPEATS)]
    figures = upstream.peer("networks", networks=[{"size": size, "chain_file": chain_file, "scopes": scopes}])
    for figure in figures:
        report.add(f"upstream {figure.pop('name')} transformations (median of {REPEATS})", figure.pop("value"),
                   figure.pop("unit"), **figure)
    for call in ("create_network", "get_network"):
        name = f"{call} {size} transformations (median of {REPEATS})"
        report.ratio(f"{call} {size}", name, f"upstream {name}")
