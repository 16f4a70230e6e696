"""Write transactions survive a real deadlock: Neo4j aborts one side, the store reruns it whole."""

from __future__ import annotations

import threading
import uuid

from alchemiscale.storage.statestore import Neo4jStore


def test_deadlocked_write_transactions_both_succeed(n4js: Neo4jStore):
    """Two writers lock the same two nodes in opposite order, each waiting for the other on its
    first attempt; Neo4j detects the deadlock and aborts one, whose rerun then goes through."""
    tag = uuid.uuid4().hex
    n4js.execute_query("CREATE (:DeadlockProbe {tag: $tag, name: 'a'}), (:DeadlockProbe {tag: $tag, name: 'b'})", {"tag": tag})
    both_hold_their_first_lock = threading.Barrier(2, timeout=30)
    attempts = {"ab": 0, "ba": 0}
    outcomes: dict[str, object] = {}

    def writer(order: str) -> None:
        def work(tx):
            attempts[order] += 1
            first, second = order
            tx.run("MATCH (n:DeadlockProbe {tag: $tag, name: $name}) SET n.writers = coalesce(n.writers, []) + $order",
                   tag=tag, name=first, order=order).consume()
            if attempts[order] == 1:
                both_hold_their_first_lock.wait()
            tx.run("MATCH (n:DeadlockProbe {tag: $tag, name: $name}) SET n.writers = coalesce(n.writers, []) + $order",
                   tag=tag, name=second, order=order).consume()
            return order

        try:
            outcomes[order] = n4js.write_transaction(work)
        except Exception as e:  # reported by the assertion below
            outcomes[order] = e

    threads = [threading.Thread(target=writer, args=(order,)) for order in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert outcomes == {"ab": "ab", "ba": "ba"}
        assert sorted(attempts.values())[0] == 1 and sum(attempts.values()) >= 3  # one side was rerun
        writers = {r["name"]: sorted(r["writers"]) for r in n4js.execute_query(
            "MATCH (n:DeadlockProbe {tag: $tag}) RETURN n.name AS name, n.writers AS writers", {"tag": tag})}
        assert writers == {"a": ["ab", "ba"], "b": ["ab", "ba"]}  # each committed once, nothing of the aborted try
        print(f"deadlock: attempts per writer {attempts}")
    finally:
        n4js.execute_query("MATCH (n:DeadlockProbe {tag: $tag}) DETACH DELETE n", {"tag": tag})
