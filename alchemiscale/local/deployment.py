"""A complete alchemiscale deployment on one machine, kept in one data folder.

``up`` starts the project-managed Neo4j server, both APIs (gunicorn with uvicorn workers, through
the ``alchemiscale api`` and ``alchemiscale compute api`` commands) and optionally compute
services, all as detached background processes. Results go to a local-folder object store. Secrets
(Neo4j password, JWT secret, identity keys) are generated on first start and kept, readable only
by the owner, in the data folder, so ``down`` then ``up`` brings back the same deployment with
its networks, tasks and results. See ``docs/deployment.rst`` ("Local deployment").
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from .neo4jserver import Neo4jServer, Neo4jServerError, default_lib_dir, fetch_jars, has_jars, port_in_use
from ..security.models import CredentialedComputeIdentity, CredentialedUserIdentity
from .processes import ProcessError, log_tail, pid_alive, ping, runs_command_with, spawn, stop_groups, wait_for_ping

DATA_DIR_ENV = "ALCHEMISCALE_LOCAL_DATA_DIR"
DEFAULT_DATA_DIR = Path("alchemiscale-data")
DEFAULT_PORTS = {"user_api": 1840, "compute_api": 1841, "neo4j": 7687}
PORT_OPTIONS = {"user_api": "--user-port", "compute_api": "--compute-port", "neo4j": "--neo4j-port"}
USER_IDENTIFIER = "local-user"
COMPUTE_IDENTIFIER = "local-compute"
ALL_SCOPES = "*-*-*"
STATE_FILE = "deployment.json"
SECRETS_FILE = "secrets.json"
CREDENTIALS_FILE = "credentials.env"
SERVICE_NAME_PREFIX = "local_service_"
SERVICE_STARTUP_GRACE_SECONDS = 2.0
HOST = "127.0.0.1"


class LocalDeploymentError(RuntimeError):
    """The local deployment could not be started, checked or stopped; the message says what to do."""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    healthy: bool
    pid: Optional[int]
    address: str
    detail: str


@dataclass(frozen=True)
class UpResult:
    """Where a started deployment listens; ``first_start`` means the user identity was created just now."""

    user_api_url: str
    compute_api_url: str
    neo4j_url: str
    user_identifier: str
    user_key: str
    first_start: bool
    compute_services: list[str] = field(default_factory=list)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable and writable by the owner only (0600), even if it existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


class LocalDeployment:
    """Neo4j, the user API, the compute API and compute services whose state all lives in ``data_dir``."""

    def __init__(self, data_dir: Path | str = DEFAULT_DATA_DIR):
        self.data_dir = Path(data_dir).expanduser().resolve()
        # The server object that started Neo4j in this process, reused to stop it: only that object
        # can keep the JVM class-data archive Neo4j writes on a clean stop.
        self._started_server: Optional[Neo4jServer] = None

    # -- layout ---------------------------------------------------------------------------------

    @property
    def neo4j_dir(self) -> Path:
        return self.data_dir / "neo4j"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def compute_dir(self) -> Path:
        return self.data_dir / "compute"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / CREDENTIALS_FILE

    def log_path(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    @property
    def exists(self) -> bool:
        return (self.data_dir / SECRETS_FILE).is_file()

    # -- state and secrets ----------------------------------------------------------------------

    def read_state(self) -> dict[str, Any]:
        try:
            return json.loads((self.data_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as e:
            raise LocalDeploymentError(f"{self.data_dir / STATE_FILE} is corrupt ({e}); remove it and run "
                                       "`alchemiscale local up` again (data is kept)") from None

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.data_dir / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.data_dir / STATE_FILE)

    def read_secrets(self) -> dict[str, str]:
        try:
            return json.loads((self.data_dir / SECRETS_FILE).read_text())
        except FileNotFoundError:
            raise LocalDeploymentError(
                f"{self.data_dir} holds no local deployment ({SECRETS_FILE} is missing); "
                "start one with `alchemiscale local up`"
            ) from None

    def _load_or_create_secrets(self) -> dict[str, str]:
        if self.exists:
            return self.read_secrets()
        values = {
            "neo4j_password": secrets.token_urlsafe(24),
            "jwt_secret": secrets.token_hex(32),
            "user_identifier": USER_IDENTIFIER,
            "user_key": secrets.token_urlsafe(24),
            "compute_identifier": COMPUTE_IDENTIFIER,
            "compute_key": secrets.token_urlsafe(24),
        }
        write_private(self.data_dir / SECRETS_FILE, json.dumps(values, indent=2) + "\n")
        return values

    def ports(self) -> dict[str, int]:
        """The ports this deployment uses: those of its last start, else the defaults."""
        return {**DEFAULT_PORTS, **self.read_state().get("ports", {})}

    def url(self, component: str) -> str:
        return f"http://{HOST}:{self.ports()[component]}"

    # -- lifecycle ------------------------------------------------------------------------------

    def running_components(self) -> list[str]:
        """Names of the components whose process is alive."""
        state = self.read_state()
        alive = [name for name, pid in state.get("processes", {}).items() if self._owns(pid)]
        alive += [service["name"] for service in state.get("compute_services", []) if self._owns(service["pid"])]
        if self.neo4j_dir.is_dir() and self._neo4j_server().running:
            alive.append("neo4j")
        return alive

    def live_compute_services(self) -> list[str]:
        """Names of the compute services whose process is alive."""
        return [s["name"] for s in self.read_state().get("compute_services", []) if self._owns(s["pid"])]

    def up(
        self,
        compute_services: int = 1,
        user_port: Optional[int] = None,
        compute_port: Optional[int] = None,
        neo4j_port: Optional[int] = None,
        service_settings: Optional[dict[str, Any]] = None,
        service_env: Optional[dict[str, str]] = None,
    ) -> UpResult:
        """Start everything; on failure stop what was started and raise LocalDeploymentError.

        ``service_settings`` adds to or overrides the compute services' YAML settings;
        ``service_env`` adds environment variables for them (e.g. ``OPENMM_CPU_THREADS``).
        """
        if compute_services < 0:
            raise LocalDeploymentError(f"--compute-services must be 0 or more, got {compute_services}")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        running = self.running_components()
        if running:
            raise LocalDeploymentError(
                f"the local deployment in {self.data_dir} is already running ({', '.join(running)}); "
                f"see `alchemiscale local status --data-dir {self.data_dir}`, or stop it with "
                f"`alchemiscale local down --data-dir {self.data_dir}` first"
            )
        ports = self._choose_ports({"user_api": user_port, "compute_api": compute_port, "neo4j": neo4j_port})
        values = self._load_or_create_secrets()
        state: dict[str, Any] = {"ports": ports, "processes": {}, "compute_services": []}
        self._write_state(state)
        self._write_credentials(values)
        try:
            server = self._start_neo4j(ports["neo4j"], values["neo4j_password"])
            created = self._prepare_database(server, values)
            self._start_apis(state, server, values)
            self._start_compute_services(state, values, compute_services, service_settings or {},
                                         {**os.environ, **(service_env or {})})
        except BaseException as error:
            self.down()
            if isinstance(error, (Neo4jServerError, ProcessError)):
                raise LocalDeploymentError(f"{error}\nEverything started was stopped again; see the logs in "
                                           f"{self.logs_dir}.") from error
            raise
        return UpResult(
            user_api_url=self.url("user_api"), compute_api_url=self.url("compute_api"), neo4j_url=server.url,
            user_identifier=values["user_identifier"], user_key=values["user_key"],
            first_start=CredentialedUserIdentity.__name__ in created,
            compute_services=[service["name"] for service in state["compute_services"]],
        )

    def down(self, timeout: float = 30.0) -> list[str]:
        """Stop every component (compute services first, so they deregister); returns what was stopped."""
        state = self.read_state()
        stopped = []
        services = [s for s in state.get("compute_services", []) if self._owns(s["pid"])]
        stop_groups([s["pid"] for s in services], timeout)
        stopped += [s["name"] for s in services]
        apis = {name: pid for name, pid in state.get("processes", {}).items() if self._owns(pid)}
        stop_groups(list(apis.values()), timeout)
        stopped += list(apis)
        if self.neo4j_dir.is_dir():
            server, self._started_server = self._started_server or self._neo4j_server(), None
            if server.running:
                server.stop()
                stopped.append("neo4j")
        if state:
            self._write_state({**state, "processes": {}, "compute_services": []})
        return stopped

    def status(self) -> list[ComponentStatus]:
        """Health of each component: Neo4j answers a query, the APIs answer /ping, services are alive."""
        state = self.read_state()
        ports = self.ports()
        rows = [self._neo4j_status(ports["neo4j"])]
        for name, label in (("user_api", "user API"), ("compute_api", "compute API")):
            pid = state.get("processes", {}).get(name)
            url = self.url(name)
            if pid is None or not self._owns(pid):
                rows.append(ComponentStatus(label, False, None, url, "not running"))
                continue
            healthy, detail = ping(url)
            rows.append(ComponentStatus(label, healthy, pid, url, f"/ping: {detail}"))
        for service in state.get("compute_services", []):
            alive = self._owns(service["pid"])
            detail = "running" if alive else f"exited; see {self.log_path(service['name'])}"
            rows.append(ComponentStatus(f"compute service {service['name']}", alive, service["pid"],
                                        self.url("compute_api"), detail))
        return rows

    # -- steps of up ----------------------------------------------------------------------------

    def _choose_ports(self, requested: dict[str, Optional[int]]) -> dict[str, int]:
        previous = self.ports()
        ports = {name: requested[name] or previous[name] for name in DEFAULT_PORTS}
        for name, port in ports.items():
            if not 0 < port < 65536:
                raise LocalDeploymentError(f"port {port} is not a valid TCP port; change it with {PORT_OPTIONS[name]}")
        if len(set(ports.values())) != len(ports):
            raise LocalDeploymentError(f"the ports must differ, got {ports}; change them with "
                                       f"{', '.join(PORT_OPTIONS.values())}")
        for name, port in ports.items():
            if port_in_use(port):
                raise LocalDeploymentError(
                    f"port {port} on {HOST} (for the {name.replace('_', ' ')}) is already in use; stop whatever "
                    f"holds it or choose another port with {PORT_OPTIONS[name]}"
                )
        return ports

    def _neo4j_server(self, port: Optional[int] = None, password: Optional[str] = None) -> Neo4jServer:
        password = password or self.read_secrets()["neo4j_password"]
        if port is None:
            return Neo4jServer.from_data_dir(self.neo4j_dir, password=password)
        return Neo4jServer(self.neo4j_dir, bolt_port=port, password=password)

    def _start_neo4j(self, port: int, password: str) -> Neo4jServer:
        lib_dir = default_lib_dir()
        if not has_jars(lib_dir):
            print(f"Fetching the Neo4j jars into {lib_dir} (once)...", file=sys.stderr, flush=True)
            fetch_jars(lib_dir)
        self._started_server = self._neo4j_server(port, password).start()
        return self._started_server

    def _store(self, server: Neo4jServer):
        from ..settings import Neo4jStoreSettings
        from ..storage.statestore import Neo4jStore

        return Neo4jStore.from_settings(Neo4jStoreSettings(
            NEO4J_URL=server.url, NEO4J_USER=server.user, NEO4J_PASS=server.password, NEO4J_DBNAME=server.dbname,
        ))

    def _prepare_database(self, server: Neo4jServer, values: dict[str, str]) -> list[str]:
        """Create the schema, and the two identities if they are missing (never replacing their keys).

        Returns the class names of the identities created.
        """
        from ..security.auth import hash_key

        created = []
        store = self._store(server)
        try:
            store.initialize()
            for cls, prefix in ((CredentialedUserIdentity, "user"), (CredentialedComputeIdentity, "compute")):
                identifier = values[f"{prefix}_identifier"]
                try:
                    store.get_credentialed_entity(identifier, cls)
                except KeyError:
                    store.create_credentialed_entity(
                        cls(identifier=identifier, hashed_key=hash_key(values[f"{prefix}_key"]), scopes=[ALL_SCOPES])
                    )
                    created.append(cls.__name__)
        finally:
            store.close()
        return created

    def _start_apis(self, state: dict[str, Any], server: Neo4jServer, values: dict[str, str]) -> None:
        """Start both APIs at once, then wait for both; secrets travel in the environment, not argv."""
        self.objects_dir.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "NEO4J_URL": server.url, "NEO4J_USER": server.user, "NEO4J_PASS": server.password,
            "NEO4J_DBNAME": server.dbname, "JWT_SECRET_KEY": values["jwt_secret"],
        }
        commands = {"user_api": ["api"], "compute_api": ["compute", "api"]}
        for name, command in commands.items():
            argv = [sys.executable, "-m", "alchemiscale.cli", *command, "--host", HOST,
                    "--port", str(state["ports"][name]), "--workers", "1", "--object-store", "local",
                    "--local-object-store-root", str(self.objects_dir)]
            state["processes"][name] = spawn(argv, env, self.log_path(name), cwd=self.data_dir)
            self._write_state(state)
        for name in commands:
            wait_for_ping(self.url(name), state["processes"][name], self.log_path(name))

    def _start_compute_services(
        self, state: dict[str, Any], values: dict[str, str], count: int, overrides: dict[str, Any],
        env: dict[str, str],
    ) -> None:
        self.compute_dir.mkdir(exist_ok=True)
        for index in range(1, count + 1):
            name = f"{SERVICE_NAME_PREFIX}{index}"
            config = self.compute_dir / f"{name}.yaml"
            settings = {
                "api_url": self.url("compute_api"),
                "identifier": values["compute_identifier"],
                "key": values["compute_key"],
                "name": name,
                "shared_basedir": str(self.compute_dir / "shared"),
                "scratch_basedir": str(self.compute_dir / "scratch"),
                "client_cache_directory": str(self.compute_dir / "cache"),
                "sleep_interval": 5,
                "heartbeat_interval": 60,
                "loglevel": "INFO",
                **overrides,
            }
            write_private(config, yaml.safe_dump(settings, sort_keys=False))
            argv = [sys.executable, "-m", "alchemiscale.cli", "compute", "synchronous", "-c", str(config)]
            pid = spawn(argv, env, self.log_path(name), cwd=self.data_dir)
            state["compute_services"].append({"name": name, "pid": pid, "config": str(config)})
            self._write_state(state)
        deadline = time.monotonic() + SERVICE_STARTUP_GRACE_SECONDS
        while state["compute_services"] and time.monotonic() < deadline:
            time.sleep(0.2)
        for service in state["compute_services"]:
            if not pid_alive(service["pid"]):
                log = self.log_path(service["name"])
                raise ProcessError(f"compute service {service['name']} exited right after starting; "
                                   f"last lines of {log}:\n{log_tail(log)}")

    def _write_credentials(self, values: dict[str, str]) -> None:
        """``source``-able file with the user API's address and the user identity, for clients."""
        write_private(self.credentials_path, (
            f"export ALCHEMISCALE_URL={self.url('user_api')}\n"
            f"export ALCHEMISCALE_ID={values['user_identifier']}\n"
            f"export ALCHEMISCALE_KEY={values['user_key']}\n"
        ))

    # -- status helpers -------------------------------------------------------------------------

    def _owns(self, pid: Optional[int]) -> bool:
        """Whether ``pid`` is alive and one of this deployment's processes (not a reused pid)."""
        return pid is not None and runs_command_with(pid, str(self.data_dir))

    def _neo4j_status(self, port: int) -> ComponentStatus:
        address = f"bolt://{HOST}:{port}"
        if not self.neo4j_dir.is_dir() or not self.exists:
            return ComponentStatus("Neo4j", False, None, address, "never started")
        server = self._neo4j_server()
        if not server.running:
            return ComponentStatus("Neo4j", False, None, address, "not running")
        from neo4j import GraphDatabase
        from neo4j.exceptions import Neo4jError, ServiceUnavailable

        try:
            with GraphDatabase.driver(server.url, auth=(server.user, server.password),
                                      connection_timeout=3.0) as driver:
                driver.execute_query("RETURN 1", database_=server.dbname)
        except (Neo4jError, ServiceUnavailable, OSError) as e:
            return ComponentStatus("Neo4j", False, server.pid, server.url, f"Bolt query failed: {type(e).__name__}")
        return ComponentStatus("Neo4j", True, server.pid, server.url, "Bolt: query answered")
