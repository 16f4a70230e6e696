"""Throughput of the object stores: push and pull 100 results of 1 MiB each.

Starts its own moto S3 server on loopback and a temporary local store, then times serial and
8-thread pushes and pulls through the public ObjectStore API. Prints one line per measurement and
writes them all to ``bench/results/objectstore.json``. Run with the project's Python:

    python bench/objectstore.py [--count 100] [--size-mib 1] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import socket
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from moto.server import ThreadedMotoServer

from alchemiscale.models import ScopedKey
from alchemiscale.storage.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore

RESULTS_DIR = Path(__file__).parent / "results"
TRANSFORMATION = ScopedKey(gufe_key="Transformation-bench", org="bench", campaign="bench", project="bench")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tmp_filesystem() -> str:
    """The filesystem type under the temporary folder, which decides local-store fsync costs."""
    tmp = os.path.realpath(tempfile.gettempdir())
    best = ("", "unknown")
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                _, mount_point, fs_type = line.split()[:3]
                if (tmp + "/").startswith(mount_point.rstrip("/") + "/") and len(mount_point) > len(best[0]):
                    best = (mount_point, fs_type)
    except OSError:
        pass
    return best[1]


def timed(action: Callable[[int], object], count: int, threads: int) -> float:
    start = time.perf_counter()
    if threads == 1:
        for i in range(count):
            action(i)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(action, range(count)))
    return time.perf_counter() - start


def bench_store(name: str, store: ObjectStore, payloads: list[bytes], threads: int) -> list[dict]:
    """Push then pull every payload, serially and with a thread pool; verify what comes back."""
    store.initialize()
    size_mib = sum(len(p) for p in payloads) / 2**20
    rows = []
    for n_threads in (1, threads):
        refs: dict[int, object] = {}

        def push(i: int) -> None:
            refs[i] = store.push_protocoldagresult(payloads[i], True, f"ProtocolDAGResult-{i:032x}", TRANSFORMATION)

        def pull(i: int) -> None:
            if store.pull_protocoldagresult(refs[i], TRANSFORMATION) != payloads[i]:
                raise RuntimeError(f"{name}: object {i} came back different")

        for operation, action in (("push", push), ("pull", pull)):
            seconds = timed(action, len(payloads), n_threads)
            rows.append(
                {
                    "store": name,
                    "operation": operation,
                    "threads": n_threads,
                    "objects": len(payloads),
                    "object_bytes": len(payloads[0]),
                    "seconds": round(seconds, 4),
                    "mib_per_s": round(size_mib / seconds, 1),
                    "objects_per_s": round(len(payloads) / seconds, 1),
                }
            )
        store.reset()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--size-mib", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    # zstd output is close to incompressible, so random bytes stand in for real results
    payloads = [os.urandom(int(args.size_mib * 2**20)) for _ in range(args.count)]

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    rows: list[dict] = []
    try:
        s3 = S3ObjectStore(
            f"bench-{uuid.uuid4().hex[:12]}",
            "objectstore",
            region="us-east-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            access_key_id="bench",
            secret_access_key="bench",
        )
        rows += bench_store("s3 (moto, loopback)", s3, payloads, args.threads)
        with tempfile.TemporaryDirectory(prefix="objectstore-bench-") as root:
            rows += bench_store("local (tmp folder)", LocalObjectStore(root), payloads, args.threads)
    finally:
        moto.stop()

    for row in rows:
        print(
            f"{row['store']:<22} {row['operation']:<5} threads={row['threads']:<2} "
            f"{row['objects']} x {row['object_bytes'] / 2**20:g} MiB: {row['seconds']:8.3f} s "
            f"{row['mib_per_s']:8.1f} MiB/s"
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "objectstore",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "tmp_filesystem": tmp_filesystem(),
        "results": rows,
    }
    out = RESULTS_DIR / "objectstore.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
