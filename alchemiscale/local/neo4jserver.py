"""Provision and run a real Neo4j 5.26 community server from Maven Central jars, without Docker.

The server runs as a child JVM whose home, configuration, data and logs all live in one data
folder, so tests, local deployments and developers can each own an isolated database. A small
state file keeps the Bolt port so that a restart reuses the same port and data.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.resources
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Callable, Sequence, TypeVar

from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired, TransientError

NEO4J_VERSION = "5.26.30"
DEFAULT_USER = "neo4j"
DEFAULT_DBNAME = "neo4j"
DEFAULT_PASSWORD = "alchemiscale-neo4j"
INITIAL_PASSWORD = "neo4j"
MIN_PASSWORD_LENGTH = 8  # Neo4j's dbms.security.auth_minimum_password_length default

FETCH_MARKER = ".fetch-complete"
CDS_ARCHIVE_PREFIX = "neo4j-classes-"
STATE_FILE = "alchemiscale-neo4j.json"
PID_FILE = "alchemiscale-neo4j.pid"
CONSOLE_LOG = "console.log"
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
SERVER_JAR_PREFIX = "neo4j-server-"
LOG_TAIL_LINES = 40
HAS_PROCFS = Path("/proc/self/stat").exists()
T = TypeVar("T")
FETCH_HINT = "run `make neo4j` or `python -m alchemiscale.local.neo4jserver fetch`"

# The flags Neo4j's own launcher passes on Java 17, minus those that only slow startup
# (AlwaysPreTouch); the --add-opens let Netty and the page cache reach JDK internals.
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "-Xlog:cds*=off",
)


class Neo4jServerError(RuntimeError):
    """Provisioning or running the Neo4j server failed; the message says what to do about it."""


def source_tree_lib_dir() -> Path | None:
    """``.cache/neo4j/lib`` of the source checkout this package runs from (where `make neo4j` puts the
    jars), or None for an installed package."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "Makefile").is_file():
        return root / ".cache" / "neo4j" / "lib"
    return None


def default_lib_dir() -> Path:
    """Where Neo4j's jars live, for `make`, the CLI (`local up`), the tests and the benchmarks alike:
    `ALCHEMISCALE_NEO4J_LIB` if set, else the source checkout's `.cache/neo4j/lib`, else the
    per-user cache folder."""
    override = os.environ.get("ALCHEMISCALE_NEO4J_LIB")
    if override:
        return Path(override).expanduser()
    source_tree = source_tree_lib_dir()
    if source_tree is not None:
        return source_tree
    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_root / "alchemiscale" / f"neo4j-{NEO4J_VERSION}" / "lib"


def _require_executable(name: str, what_to_install: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Neo4jServerError(f"`{name}` was not found on PATH; install {what_to_install}.")
    return path


def _java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return _require_executable("java", "a Java 17 or 21 runtime (e.g. `apt install openjdk-17-jre-headless`)")


def fetch_jars(lib_dir: Path | str | None = None, *, quiet: bool = True) -> Path:
    """Download Neo4j's runtime jars with Maven into `lib_dir`; a no-op once a fetch has completed.

    Jars are fetched into a sibling temporary folder that is renamed into place only after Maven
    succeeds, so an interrupted fetch never leaves a half-filled `lib_dir`. A lock file makes
    concurrent callers (e.g. pytest-xdist workers) wait for one fetch instead of racing.
    """
    lib_dir = Path(lib_dir).expanduser() if lib_dir is not None else default_lib_dir()
    if (lib_dir / FETCH_MARKER).is_file():
        return lib_dir
    mvn = _require_executable("mvn", "Apache Maven (e.g. `apt install maven`)")
    _java_executable()
    lib_dir.parent.mkdir(parents=True, exist_ok=True)
    with (lib_dir.parent / f".{lib_dir.name}.fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (lib_dir / FETCH_MARKER).is_file():
            _fetch_into(lib_dir, mvn, quiet)
    return lib_dir


def _fetch_into(lib_dir: Path, mvn: str, quiet: bool) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{lib_dir.name}.fetch-", dir=lib_dir.parent))
    try:
        pom = importlib.resources.files("alchemiscale") / "data" / "neo4j" / "pom.xml"
        with importlib.resources.as_file(pom) as pom_path:
            command = [mvn, "-B", "-f", str(pom_path), "dependency:copy-dependencies",
                       "-DincludeScope=runtime", f"-DoutputDirectory={staging}"]
            if quiet:
                command.insert(1, "-q")
            result = subprocess.run(command, capture_output=quiet, text=True)
        if result.returncode != 0:
            output = (result.stdout or "") + (result.stderr or "")
            raise Neo4jServerError(
                f"Maven could not fetch the Neo4j {NEO4J_VERSION} jars (exit code {result.returncode}); "
                f"check network access to Maven Central.\n{_tail(output.splitlines())}"
            )
        (staging / FETCH_MARKER).write_text(f"neo4j {NEO4J_VERSION}\n")
        _replace_dir(staging, lib_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def has_jars(lib_dir: Path | str) -> bool:
    """Whether `lib_dir` holds the Neo4j server jar (fetched by us or copied there by hand)."""
    return any(Path(lib_dir).glob(f"{SERVER_JAR_PREFIX}*.jar"))


def _replace_dir(new: Path, target: Path) -> None:
    """Move `new` to `target`, discarding an incomplete `target` left by an earlier attempt."""
    if target.exists():
        discarded = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(discarded)
        new.rename(target)
        shutil.rmtree(discarded, ignore_errors=True)
    else:
        new.rename(target)


def _tail(lines: Sequence[str] | deque[str], count: int = LOG_TAIL_LINES) -> str:
    return "\n".join(list(lines)[-count:])


def _read_tail(path: Path, offset: int = 0, count: int = LOG_TAIL_LINES) -> str:
    """The last `count` lines of `path` written after byte `offset`."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            lines = deque(handle, maxlen=count)
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(line.decode(errors="replace").rstrip("\n") for line in lines) or "(log is empty)"


def free_port() -> int:
    """A currently free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    """Whether a socket is already bound to `port` on loopback (TIME_WAIT leftovers don't count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _bolt_listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def render_conf(data_dir: Path, bolt_port: int, pagecache: str) -> str:
    """neo4j.conf for a loopback-only server whose every folder lives under `data_dir`."""
    settings = {
        "server.bolt.enabled": "true",
        "server.bolt.listen_address": f"127.0.0.1:{bolt_port}",
        "server.bolt.advertised_address": f"127.0.0.1:{bolt_port}",
        "server.http.enabled": "false",
        "server.https.enabled": "false",
        "dbms.security.auth_enabled": "true",
        "dbms.usage_report.enabled": "false",
        "server.memory.pagecache.size": pagecache,
        "server.directories.data": str(data_dir / "data"),
        "server.directories.logs": str(data_dir / "logs"),
        "server.directories.run": str(data_dir / "run"),
        "server.directories.plugins": str(data_dir / "plugins"),
        "server.directories.import": str(data_dir / "import"),
        # Without these each database preallocates 256 MiB of transaction log.
        "db.tx_log.preallocate": "false",
        "db.tx_log.rotation.size": "16M",
        # Netty's 5 s quiet period otherwise makes every shutdown take ~10 s.
        "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
    }
    header = "# Written by alchemiscale.local.neo4jserver; rewritten on every start.\n"
    return header + "".join(f"{key}={value}\n" for key, value in settings.items())


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists and has not exited.

    A JVM's main thread can end (showing the process as a zombie) while its other threads are
    still shutting the server down, so only a zombie with no threads left counts as exited.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not HAS_PROCFS:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    state, num_threads = fields[0], int(fields[17])
    return state != "Z" or num_threads > 1


def _is_server_for(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a live Neo4j server for `data_dir`, not some process that reused the pid."""
    if not pid_alive(pid):
        return False
    if not HAS_PROCFS:
        return True
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return ENTRY_POINT.encode() in args and f"--home-dir={data_dir}".encode() in args


class Neo4jServer:
    """A Neo4j server whose home, configuration, data and logs live in `data_dir`.

    If a server for `data_dir` is already running (started by another process), this object
    attaches to it: `running` is true and `stop()` stops it.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        bolt_port: int | None = None,
        password: str = DEFAULT_PASSWORD,
        lib_dir: Path | str | None = None,
        heap: str = "512m",
        pagecache: str = "64m",
    ) -> None:
        if len(password) < MIN_PASSWORD_LENGTH or password == INITIAL_PASSWORD:
            raise Neo4jServerError(
                f"The Neo4j password must have at least {MIN_PASSWORD_LENGTH} characters and differ from "
                f"'{INITIAL_PASSWORD}'; choose another password."
            )
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.lib_dir = Path(lib_dir).expanduser().resolve() if lib_dir is not None else default_lib_dir()
        self.heap = heap
        self.pagecache = pagecache
        self._password = password
        self._process: subprocess.Popen[bytes] | None = None
        self._cds_pending: tuple[Path, Path] | None = None
        self._log_offset = 0
        self.startup_seconds: float | None = None  # how long the last start() took, for diagnostics
        self._attached_pid = self._running_pid_from_file()
        state_port = self._read_state().get("bolt_port")
        if self._attached_pid is not None and bolt_port not in (None, state_port):
            raise Neo4jServerError(
                f"A Neo4j server for {self.data_dir} is already running on port {state_port}; stop it before "
                f"moving it to port {bolt_port}."
            )
        if bolt_port is None:
            bolt_port = state_port or free_port()
        if not 0 < bolt_port < 65536:
            raise Neo4jServerError(f"Bolt port {bolt_port} is not a valid TCP port (1-65535).")
        self.bolt_port = int(bolt_port)
        for sub in ("conf", "data", "logs", "run", "plugins", "import"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        if self._attached_pid is None:
            self.conf_path.write_text(render_conf(self.data_dir, self.bolt_port, self.pagecache))
            self._write_state(bolt_port=self.bolt_port)

    @classmethod
    def from_data_dir(
        cls, data_dir: Path | str, *, password: str = DEFAULT_PASSWORD, lib_dir: Path | str | None = None
    ) -> Neo4jServer:
        """Reopen a data folder created earlier (running or not) on the port it used before."""
        state_path = Path(data_dir).expanduser() / STATE_FILE
        if not state_path.is_file():
            raise Neo4jServerError(
                f"{data_dir} holds no Neo4j server state ({STATE_FILE} is missing); create the server "
                "with Neo4jServer(data_dir) first."
            )
        return cls(data_dir, password=password, lib_dir=lib_dir)

    # -- connection details -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def user(self) -> str:
        return DEFAULT_USER

    @property
    def password(self) -> str:
        return self._password

    @property
    def dbname(self) -> str:
        return DEFAULT_DBNAME

    @property
    def conf_path(self) -> Path:
        return self.data_dir / "conf" / "neo4j.conf"

    @property
    def console_log(self) -> Path:
        return self.data_dir / "logs" / CONSOLE_LOG

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "run" / PID_FILE

    @property
    def pid(self) -> int | None:
        if self._process is not None:
            return self._process.pid
        return self._attached_pid

    @property
    def running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        if self._attached_pid is not None:
            return pid_alive(self._attached_pid)
        return False

    def __repr__(self) -> str:
        return f"Neo4jServer(data_dir={str(self.data_dir)!r}, url={self.url!r}, running={self.running})"

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float = 120) -> Neo4jServer:
        """Launch the server, wait for Bolt, set the password on first start, and check a query runs."""
        if self.running:
            return self
        self._check_jars()
        java = _java_executable()
        if port_in_use(self.bolt_port):
            raise Neo4jServerError(
                f"Port {self.bolt_port} on 127.0.0.1 is already in use, so Neo4j cannot listen for Bolt there; "
                "stop whatever holds it or choose another bolt_port."
            )
        self.conf_path.write_text(render_conf(self.data_dir, self.bolt_port, self.pagecache))
        command = self._command(java)
        self._cds_pending = self._plan_cds_archive(java)
        if self._cds_pending is not None:
            command.insert(1, f"-XX:ArchiveClassesAtExit={self._cds_pending[0]}")
        started = time.monotonic()
        with self.console_log.open("ab") as log:
            self._log_offset = log.tell()
            self._process = subprocess.Popen(
                command, cwd=self.data_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._attached_pid = None
        self.pid_path.write_text(f"{self._process.pid}\n")
        try:
            self._wait_for_bolt(timeout)
            self._ensure_password()
        except BaseException:
            self._terminate(timeout=30, keep_cds_archive=False)
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self, timeout: float = 60) -> None:
        """Stop the server: SIGTERM for a clean checkpoint, SIGKILL only if that takes too long."""
        if not self.running:
            self._forget_process()
            return
        self._terminate(timeout)

    def __enter__(self) -> Neo4jServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------

    def _command(self, java: str) -> list[str]:
        command = [java, f"-Xmx{self.heap}", *JVM_FLAGS]
        archive = self._cds_archive(java)
        if archive.is_file():
            command.append(f"-XX:SharedArchiveFile={archive}")
        return command + [
            "-cp", f"{self.lib_dir}/*", ENTRY_POINT,
            f"--home-dir={self.data_dir}", f"--config-dir={self.data_dir / 'conf'}", "--console-mode",
        ]

    def _cds_archive(self, java: str) -> Path:
        """The class-data archive for this jar folder and this exact JVM build."""
        java_path = Path(java).resolve()
        key = f"{java_path}:{java_path.stat().st_mtime_ns}".encode()
        return self.lib_dir / f"{CDS_ARCHIVE_PREFIX}{zlib.crc32(key):08x}.jsa"

    def _plan_cds_archive(self, java: str) -> tuple[Path, Path] | None:
        """(temporary, final) paths if this run should dump a class-data archive, else None.

        The archive makes later JVM starts about a second faster. The JVM writes it when it
        exits; it is renamed into the jar folder only after a clean stop. A read-only jar folder
        simply goes without one.
        """
        archive = self._cds_archive(java)
        if archive.exists() or not os.access(self.lib_dir, os.W_OK):
            return None
        return archive.with_name(f".{archive.name}.{os.getpid()}-{self.bolt_port}.tmp"), archive

    def _publish_cds_archive(self, keep: bool) -> None:
        pending, self._cds_pending = self._cds_pending, None
        if pending is None:
            # Stopped by another process than the one that started it (``local down``): find
            # the archive that server's JVM dumped on exit by its port.
            leftovers = sorted(self.lib_dir.glob(f".{CDS_ARCHIVE_PREFIX}*.jsa.*-{self.bolt_port}.tmp"))
            if not leftovers:
                return
            tmp = leftovers[-1]
            pending = (tmp, tmp.with_name(tmp.name[1:].rsplit(".", 2)[0]))
        if not pending[0].exists():
            return
        if keep and pending[0].stat().st_size > 0:
            os.replace(*pending)
        else:
            pending[0].unlink(missing_ok=True)

    def _check_jars(self) -> None:
        if not self.lib_dir.is_dir():
            raise Neo4jServerError(f"The Neo4j jar folder {self.lib_dir} does not exist; {FETCH_HINT}.")
        if not has_jars(self.lib_dir):
            raise Neo4jServerError(
                f"The Neo4j jar folder {self.lib_dir} holds no {SERVER_JAR_PREFIX}*.jar; {FETCH_HINT}."
            )

    def _wait_for_bolt(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not _bolt_listening(self.bolt_port):
            if not self.running:
                raise self._failure(f"The Neo4j server process exited with code {self._process.returncode} "
                                    "during startup")
            if time.monotonic() > deadline:
                raise self._failure(f"Neo4j did not open Bolt on port {self.bolt_port} within {timeout:.0f} s")
            time.sleep(0.1)

    def _failure(self, what: str) -> Neo4jServerError:
        return Neo4jServerError(
            f"{what}. Check Java (17 or 21), the jars in {self.lib_dir}, and the data folder {self.data_dir}. "
            f"Last lines of {self.console_log}:\n{_read_tail(self.console_log, self._log_offset)}"
        )

    def _ensure_password(self) -> None:
        """Replace the expired initial password on first start; later starts already have ours."""
        if not self._read_state().get("password_initialized"):
            with GraphDatabase.driver(self.url, auth=(self.user, INITIAL_PASSWORD)) as driver:
                try:
                    self._with_retries(lambda: driver.execute_query(
                        "ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                        {"old": INITIAL_PASSWORD, "new": self._password}, database_="system",
                    ))
                except AuthError:
                    pass  # the initial password was already replaced; the check below tells if by ours
            self._write_state(bolt_port=self.bolt_port, password_initialized=True)
        with GraphDatabase.driver(self.url, auth=(self.user, self._password)) as driver:
            try:
                records, _, _ = self._with_retries(
                    lambda: driver.execute_query("RETURN 1 AS ok", database_=self.dbname)
                )
            except AuthError as error:
                raise Neo4jServerError(
                    f"Neo4j in {self.data_dir} rejected the password for user '{self.user}': this data folder was "
                    "set up with a different password. Use that password, or a fresh data folder."
                ) from error
        if records[0]["ok"] != 1:
            raise self._failure("Neo4j answered the startup check query wrongly")

    def _with_retries(self, action: Callable[[], T], attempts: int = 50) -> T:
        """Run `action`, retrying while Neo4j is still finishing its startup."""
        attempt = 1
        while True:
            try:
                return action()
            except (ServiceUnavailable, SessionExpired, TransientError):
                if attempt == attempts or not self.running:
                    raise
            attempt += 1
            time.sleep(0.1)

    def _terminate(self, timeout: float, *, keep_cds_archive: bool = True) -> None:
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        clean = self._wait_exit(timeout)
        if not clean:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            self._wait_exit(10)
        self._publish_cds_archive(keep=clean and keep_cds_archive)
        self._forget_process()

    def _wait_exit(self, timeout: float) -> bool:
        if self._process is not None:
            try:
                self._process.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while self.running:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def _forget_process(self) -> None:
        self._process = None
        self._attached_pid = None
        self.pid_path.unlink(missing_ok=True)

    def _running_pid_from_file(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_server_for(pid, self.data_dir) else None

    def _read_state(self) -> dict:
        try:
            return json.loads((self.data_dir / STATE_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _write_state(self, **values: object) -> None:
        state = {**self._read_state(), **values}
        tmp = self.data_dir / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.data_dir / STATE_FILE)


def main(argv: Sequence[str] | None = None) -> int:
    """`fetch` downloads the jars; `run` runs a server in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m alchemiscale.local.neo4jserver", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help=f"download the Neo4j {NEO4J_VERSION} jars with Maven")
    fetch.add_argument("--lib-dir", type=Path, default=None, help=f"target folder (default: {default_lib_dir()})")
    run = commands.add_parser(
        "run", help="run a Neo4j server in the foreground (password from env NEO4J_PASS, else the default)"
    )
    run.add_argument("--data-dir", type=Path, required=True, help="folder for conf, data and logs")
    run.add_argument("--port", type=int, default=None, help="Bolt port (default: the last one used, else a free one)")
    run.add_argument(
        "--lib-dir", type=Path, default=None, help=f"folder with the Neo4j jars (default: {default_lib_dir()})"
    )
    run.add_argument("--heap", default="512m", help="JVM maximum heap (default: %(default)s)")
    run.add_argument("--pagecache", default="64m", help="Neo4j page cache size (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(f"Fetching the Neo4j {NEO4J_VERSION} jars with Maven...", flush=True)
            print(f"Neo4j jars are in {fetch_jars(args.lib_dir)}")
            return 0
        password = os.environ.get("NEO4J_PASS", DEFAULT_PASSWORD)
        server = Neo4jServer(args.data_dir, bolt_port=args.port, password=password, lib_dir=args.lib_dir,
                             heap=args.heap, pagecache=args.pagecache)
        return _run_foreground(server)
    except Neo4jServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_foreground(server: Neo4jServer) -> int:
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    if server.running:
        raise Neo4jServerError(f"A Neo4j server for {server.data_dir} is already running at {server.url} "
                               f"(pid {server.pid}).")
    server.start()
    print(f"Neo4j {NEO4J_VERSION} ready at {server.url} (user {server.user}, database {server.dbname}) "
          f"in {server.startup_seconds:.1f} s; data in {server.data_dir}. Press Ctrl-C to stop.", flush=True)
    try:
        while server.running:
            time.sleep(0.5)
        print(f"Neo4j exited unexpectedly; see {server.console_log}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopping Neo4j...", flush=True)
        server.stop()
        return 0


if __name__ == "__main__":
    sys.exit(main())
