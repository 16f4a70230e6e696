"""Fault: gzip bombs, oversized bodies and huge query values against the user API as the CLI runs it.

The API runs as ``alchemiscale api`` does (gunicorn, one uvicorn worker) with caps of 16 MiB as
received and 64 MiB gunzipped. Each attack must be refused quickly (401 without a token, 413 past a
cap, 422 for a long query value), and ``GET /ping`` must keep answering within a second while
attackers flood the API with all of them at once; the worker must survive with bounded memory.
Loopback only; every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator

import httpx
import psutil
import pytest

from alchemiscale.local.processes import free_ports, group_members, stop_groups, wait_for_ping

from ..identities import bearer, mint_token

MIB = 1024**2
MAX_BODY_BYTES = 16 * MIB
MAX_EXPANDED_BODY_BYTES = 64 * MIB
PING_LIMIT_SECONDS = 1.0
FLOOD_SECONDS = 8.0
FLOOD_THREADS = 4
MAX_REQUESTS_PER_THREAD = 150


def gzip_bomb(expanded_bytes: int, block: int = MIB) -> bytes:
    """A valid single-member gzip of ``expanded_bytes`` zero bytes (about 1/1000 of that), built fast.

    After a full flush the compressor forgets its history, so every further block of zeros
    compresses to the same bytes: compress two blocks, repeat the second, and write the trailer.
    """
    zeros = bytes(block)
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    final_block = compressor.flush(zlib.Z_FINISH)[:-8]
    count = expanded_bytes // block
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    return head + repeated * (count - 1) + final_block + struct.pack("<II", crc, (count * block) & 0xFFFFFFFF)


@dataclass(frozen=True)
class Api:
    url: str
    port: int
    secret: str
    token: str
    worker: psutil.Process


@pytest.fixture(scope="module")
def api(neo4j_env, tmp_path_factory) -> Iterator[Api]:
    """The user API started by the CLI, with small caps so that the attacks stay cheap for CI."""
    workdir = tmp_path_factory.mktemp("bodies")
    (port,) = free_ports(1)
    secret = secrets.token_hex(32)
    env = {
        **os.environ,
        "JWT_SECRET_KEY": secret,
        "ALCHEMISCALE_OBJECT_STORE": "local",
        "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(workdir / "objects"),
        "ALCHEMISCALE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "ALCHEMISCALE_MAX_EXPANDED_BODY_BYTES": str(MAX_EXPANDED_BODY_BYTES),
    }
    log = workdir / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "alchemiscale.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_ping(url, process.pid, log, timeout=120)
        (worker,) = [psutil.Process(pid) for pid in group_members(process.pid) if pid != process.pid]
        yield Api(url, port, secret, mint_token(secret, "attacker", ["*-*-*"]), worker)
        assert worker.is_running(), f"the worker died; log:\n{log.read_text()[-4000:]}"
    finally:
        stop_groups([process.pid], timeout=30)
        process.wait(10)


def headers_only(api: Api, method: str, target: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Send a request's head (any body it declares never follows) and read the answer: (status, body).

    Also sends URLs longer than httpx allows.
    """
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{api.port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        answer = b""
        while piece := sock.recv(65536):  # the server closes the connection after its answer
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(1024 * MIB)  # 1 MiB that expands to 1 GiB


def attacks(api: Api, bomb: bytes) -> dict[str, tuple[int, Callable[[httpx.Client], int]]]:
    """Each attack by name: (the status it must get, a function sending it once and returning the status)."""
    auth = bearer(api.token)
    expired = bearer(mint_token(api.secret, "attacker", ["*-*-*"], expires_seconds=-30))
    header, claims, _ = api.token.split(".")
    forged = bearer(f"{header}.{claims}.{'A' * 43}")  # well-formed, but not signed with the server's key
    gz = {"Content-Encoding": "gzip"}  # as upstream's clients send bodies: gzip, no Content-Type
    oversized = bytes(MAX_BODY_BYTES + MIB)
    long_name = "(a|aa)*" * 8572  # 60,004 characters of regex, sent unencoded as an attacker may

    def chunked(total: int) -> Iterator[bytes]:
        block = bytes(MIB)
        for _ in range(total // MIB):
            yield block

    return {
        "bomb, no token": (401, lambda c: c.post("/networks", content=bomb, headers=gz).status_code),
        "bomb, expired token": (401, lambda c: c.post("/networks", content=bomb, headers={**gz, **expired}).status_code),
        "bomb, forged token": (401, lambda c: c.post("/networks", content=bomb, headers={**gz, **forged}).status_code),
        "bomb, valid token": (413, lambda c: c.post("/networks", content=bomb, headers={**gz, **auth}).status_code),
        "17 MiB body, no token": (401, lambda c: c.post("/networks", content=oversized).status_code),
        "17 MiB body, valid token": (413, lambda c: c.post("/networks", content=oversized, headers=auth).status_code),
        "17 MiB chunked, valid token": (
            413,
            lambda c: c.post("/networks", content=chunked(MAX_BODY_BYTES + MIB), headers=auth).status_code,
        ),
        "1 GiB declared, no token": (
            401,
            lambda c: headers_only(api, "POST", "/networks", {"Content-Length": str(1024 * MIB)})[0],
        ),
        "1 GiB declared, valid token": (
            413,
            lambda c: headers_only(api, "POST", "/networks", {"Content-Length": str(1024 * MIB), **auth})[0],
        ),
        "60,004-character query": (422, lambda c: headers_only(api, "GET", f"/networks?name={long_name}", auth)[0]),
    }


def test_each_attack_is_refused_fast(api, bomb):
    figures = []
    with httpx.Client(base_url=api.url, timeout=30) as client:
        for name, (expected, send) in attacks(api, bomb).items():
            start = time.perf_counter()
            status = send(client)
            seconds = time.perf_counter() - start
            figures.append((name, status, seconds))
            assert status == expected, name
        detail = client.post("/networks", content=bomb, headers={"Content-Encoding": "gzip", **bearer(api.token)})
    print("\nattack                          status  seconds")
    for name, status, seconds in figures:
        print(f"{name:30s}  {status}     {seconds:.3f}")
    assert "64 MiB (67108864 bytes) set by ALCHEMISCALE_MAX_EXPANDED_BODY_BYTES" in detail.json()["detail"]
    assert max(seconds for _, _, seconds in figures) < PING_LIMIT_SECONDS


def test_ping_answers_within_a_second_under_a_flood(api, bomb):
    refused: Counter = Counter()
    wrong: list[tuple[str, object]] = []
    pings: list[float] = []
    rss: list[int] = [api.worker.memory_info().rss]
    stop = threading.Event()
    deadline = time.monotonic() + FLOOD_SECONDS
    kinds = list(attacks(api, bomb).items())

    def attacker(offset: int) -> None:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            for i in range(MAX_REQUESTS_PER_THREAD):
                if time.monotonic() > deadline:
                    return
                name, (expected, send) = kinds[(i + offset) % len(kinds)]
                try:
                    status = send(client)
                except httpx.HTTPError as e:
                    status = f"{type(e).__name__}: {e}"
                refused[status] += 1
                if status != expected:
                    wrong.append((name, status))

    def pinger() -> None:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            while not stop.is_set() and len(pings) < 10_000:
                start = time.perf_counter()
                assert client.get("/ping").status_code == 200
                pings.append(time.perf_counter() - start)
                stop.wait(0.05)

    def sampler() -> None:
        while not stop.is_set():
            rss.append(api.worker.memory_info().rss)
            stop.wait(0.02)

    watchers = [threading.Thread(target=pinger), threading.Thread(target=sampler)]
    attackers = [threading.Thread(target=attacker, args=(n * 2,)) for n in range(FLOOD_THREADS)]
    for thread in watchers + attackers:
        thread.start()
    for thread in attackers:
        thread.join(FLOOD_SECONDS + 60)
    stop.set()
    for thread in watchers:
        thread.join(30)

    pings_ms = sorted(1000 * p for p in pings)
    peak_mib = (max(rss) - rss[0]) / MIB
    print(
        f"\nflood: {FLOOD_THREADS} attackers for {FLOOD_SECONDS:g} s: {sum(refused.values())} requests, "
        f"statuses {dict(sorted(refused.items(), key=str))}\n"
        f"/ping under attack: {len(pings)} answered, p50 {statistics.median(pings_ms):.1f} ms, "
        f"p95 {pings_ms[int(0.95 * (len(pings_ms) - 1))]:.1f} ms, max {pings_ms[-1]:.1f} ms\n"
        f"worker RSS: {rss[0] / MIB:.0f} MiB at rest, peak {max(rss) / MIB:.0f} MiB (+{peak_mib:.0f} MiB)"
    )
    assert not wrong, wrong[:10]
    assert sum(refused.values()) >= len(kinds)
    assert len(pings) >= 20 and pings_ms[-1] < 1000 * PING_LIMIT_SECONDS
    # two bodies gunzipped at once, each stopped at its 64 MiB cap, and one capped plain body per attacker
    assert peak_mib < 2 * MAX_EXPANDED_BODY_BYTES / MIB + FLOOD_THREADS * 2 * MAX_BODY_BYTES / MIB
