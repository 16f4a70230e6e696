"""Asserting on what upstream's methods answered, as recorded by the peer scripts (``peer_common.Recorder``).

A record is ``{"ok": bool, "value": ... | "error": ...}`` under a label ``method`` or ``method:variant``.
A check is a function ``(value, keys)`` that asserts; ``keys`` holds the ScopedKeys of the run.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

import alchemiscale

Check = Callable[[Any, SimpleNamespace], None]

# gufe's DummyProtocolResult over the peers' 3 windows (key results 0, 19, 36): 0 * 19 + 19 * 36
DUMMY_ESTIMATE = 684.0
BROKEN_FAILURE = {"unit": "problem child", "exception": "ValueError", "message": "I have failed my mission"}


def dummy_result(n_results: int) -> dict:
    """The summary of a DummyProtocolResult gathered from ``n_results`` ProtocolDAGResults."""
    return {"class": "DummyProtocolResult", "n_results": n_results, "estimate": DUMMY_ESTIMATE}


def method_of(label: str) -> str:
    return label.split(":")[0]


def gufe_key(scoped_key: str) -> str:
    """``Qualname-hash`` of a ``Qualname-hash-org-campaign-project`` ScopedKey."""
    return "-".join(scoped_key.split("-")[:2])


def _resolve(expected: Any, keys: SimpleNamespace) -> Any:
    return expected(keys) if callable(expected) else expected


def eq(expected: Any) -> Check:
    """The answer equals ``expected`` (a value, or a function of the keys)."""

    def check(value, keys):
        want = _resolve(expected, keys)
        assert value == want, f"answered {value!r}, expected {want!r}"

    return check


def unordered(expected: Any) -> Check:
    """The answer, a list, holds the expected items in any order."""

    def check(value, keys):
        want = _resolve(expected, keys)
        assert sorted(value) == sorted(want), f"answered {sorted(value)!r}, expected {sorted(want)!r}"

    return check


def new_keys(qualname: str, count: int) -> Check:
    """``count`` distinct new ScopedKeys of ``qualname`` in the run's Scope."""

    def check(value, keys):
        assert len(value) == count and len(set(value)) == count, value
        for sk in value:
            assert sk.startswith(f"{qualname}-") and sk.endswith(f"-{keys.scope}"), sk

    return check


def our_info(value, keys) -> None:
    assert value == {"api": value.get("api"), "version": alchemiscale.__version__}, value
    assert value["api"], value


def check_records(records: dict[str, dict], checks: dict[str, Check], method: str, keys: SimpleNamespace) -> None:
    """Every record of ``method`` succeeded and passes its check; there is at least one."""
    labels = sorted(label for label in records if method_of(label) == method)
    assert labels, f"{method} was never called"
    failures = []
    for label in labels:
        record = records[label]
        if label not in checks:
            failures.append(f"{label}: recorded, but the test has no check for it")
        elif not record["ok"]:
            failures.append(f"{label}: raised {record['error']}")
            continue
        try:
            checks[label](record["value"], keys)
        except AssertionError as e:
            failures.append(f"{label}: {e}")
    assert not failures, "\n".join(failures)
