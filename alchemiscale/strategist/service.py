"""The strategist loop: each cycle, run the due Strategy of every network in the served scopes.

One run of a network's Strategy (:func:`run_strategy`):

1. count the network's complete Tasks (one per successful result); a ``dormant`` Strategy whose
   count has not changed since its last run stays dormant, untouched;
2. fetch the network, its Strategy and each Transformation's gathered ProtocolResult (results are
   kept in the client's disk cache, so each is downloaded once);
3. ``strategy.propose(network, results)`` gives a weight per Transformation;
4. all weights None: the Strategy has converged and goes ``dormant`` (in ``full`` mode its
   network's actioned Tasks are cancelled);
5. otherwise weights become Task counts and Task weights (:mod:`.planning`), and Tasks are
   actioned, created or cancelled to match;
6. the outcome is recorded on the Strategy's state. A Strategy that raises is recorded as
   ``error`` with the exception and traceback, and is not run again until someone wakes it.

Everything goes through the user API with the strategist's user identity, so it runs only what
that identity's scopes hold. API errors (server down, a 5xx) are not the Strategy's fault: the
run is logged and retried next cycle.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ..base.client import AlchemiscaleClientError
from ..base.logs import process_logger
from ..models import Scope, ScopedKey
from ..compute.sleep import InterruptableSleep, SleepInterrupted
from ..storage.statestore.strategies import StrategyModeEnum, StrategyStatusEnum
from .client import NetworkStrategy, StrategistClient, StrategyRunRecord
from .planning import has_errored, normalize, plan_transformation, task_count, task_weights
from .settings import StrategistSettings

LOGGER_NAME = "alchemiscale.strategist"
DEFAULT_CACHE_DIRNAME = "alchemiscale-strategist"


@dataclass
class RunOutcome:
    """What one run did to one network (also what the cycle logs)."""

    network: ScopedKey
    status: str  # awake, dormant, error; "unchanged" (still dormant) or "failed" (API error, retried later)
    actioned: int = 0
    created: int = 0
    cancelled: int = 0
    weights: dict[ScopedKey, Optional[float]] = field(default_factory=dict)
    message: str = ""

    def summary(self) -> str:
        if self.status in ("error", "failed"):
            return f"{self.network}: {self.status}: {self.message}"
        return (
            f"{self.network}: {self.status}; {self.actioned} Task(s) actioned ({self.created} new), "
            f"{self.cancelled} cancelled"
        )


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def proposed_weights(client: StrategistClient, network_sk: ScopedKey) -> dict[ScopedKey, Optional[float]]:
    """The network's Strategy's normalized weight per Transformation ScopedKey (None: no more Tasks)."""
    network = client.get_network(network_sk, visualize=False)
    strategy = client.get_network_strategy(network_sk)
    if strategy is None:
        raise LookupError(f"network {network_sk} has no Strategy any more")
    if not callable(getattr(strategy, "propose", None)):
        raise TypeError(
            f"{type(strategy).__qualname__} has no propose method; the strategist runs stratocaster Strategies"
        )
    results = client.get_network_results(network_sk, visualize=False)
    local = {str(tf.key): tf for tf in network.edges}
    transformations = {sk: local.get(sk.gufe_key) or client.get_transformation(sk, visualize=False) for sk in results}
    proposal = strategy.propose(
        network, {transformations[sk].key: result for sk, result in results.items() if result is not None}
    )
    by_key = normalize(proposal.weights)
    return {sk: by_key.get(tf.key) for sk, tf in transformations.items()}


def apply_weights(
    client: StrategistClient, network_sk: ScopedKey, weights: dict[ScopedKey, Optional[float]], state: dict[str, Any]
) -> RunOutcome:
    """Action, create and cancel the network's Tasks so each Transformation has its Task count."""
    actioned = set(client.get_network_actioned_tasks(network_sk))
    per_transformation = {sk: client.get_transformation_tasks(sk) for sk in weights}
    every_task = [task for tasks in per_transformation.values() for task in tasks]
    status_of = dict(zip(every_task, client.get_tasks_status(every_task))) if every_task else {}
    shares = task_weights(weights)
    to_action: list[tuple[ScopedKey, ScopedKey]] = []  # (Task, its Transformation)
    to_create: list[ScopedKey] = []
    to_cancel: list[ScopedKey] = []
    for sk, tasks in per_transformation.items():
        with_status = [(task, status_of.get(task)) for task in tasks]
        weight = None if has_errored(with_status) else weights[sk]
        target = task_count(weight, state["max_tasks_per_transformation"], state["task_scaling"])
        plan = plan_transformation(target, with_status, actioned, state["mode"])
        if target > 0:  # the Tasks already actioned are re-weighted too
            to_action += [(task, sk) for task, _ in with_status if task in actioned]
            to_action += [(task, sk) for task in plan.action]
        to_create += [sk] * plan.create
        to_cancel += plan.cancel
    created = client.create_transformations_tasks(to_create) if to_create else []
    to_action += list(zip(created, to_create))
    if to_action:
        client.action_tasks([task for task, _ in to_action], network_sk, weight=[shares[sk] for _, sk in to_action])
    if to_cancel:
        client.cancel_tasks(to_cancel, network_sk)
    return RunOutcome(
        network_sk,
        StrategyStatusEnum.awake.value,
        actioned=sum(1 for task, _ in to_action if task not in actioned),
        created=len(created),
        cancelled=len(to_cancel),
        weights=weights,
    )


def converge(client: StrategistClient, network_sk: ScopedKey, state: dict[str, Any]) -> RunOutcome:
    """Every weight is None: go dormant; in ``full`` mode take the network's actioned Tasks off its TaskHub."""
    cancelled = 0
    if state["mode"] == StrategyModeEnum.full:
        tasks = client.get_network_actioned_tasks(network_sk)
        if tasks:
            cancelled = sum(1 for task in client.cancel_tasks(tasks, network_sk) if task is not None)
    return RunOutcome(network_sk, StrategyStatusEnum.dormant.value, cancelled=cancelled)


def run_strategy(client: StrategistClient, entry: NetworkStrategy) -> RunOutcome:
    """One run of a network's Strategy, recorded on its state (see the module docstring).

    AlchemiscaleClientError (the API failed us) propagates: nothing is recorded, the next cycle retries.
    """
    state = entry.state
    result_count = client.get_network_status(entry.network, visualize=False).get("complete", 0)
    if state["status"] == StrategyStatusEnum.dormant and result_count == state["last_iteration_result_count"]:
        return RunOutcome(entry.network, "unchanged")
    try:
        weights = proposed_weights(client, entry.network)
        if all(weight is None for weight in weights.values()):
            outcome = converge(client, entry.network, state)
        else:
            outcome = apply_weights(client, entry.network, weights, state)
        run = StrategyRunRecord(outcome.status, state["iterations"] + 1, now_utc(), result_count)
    except AlchemiscaleClientError:
        raise
    except Exception as e:  # the Strategy (or its results) failed: record it on the Strategy
        message = f"{type(e).__qualname__}: {e}"
        outcome = RunOutcome(entry.network, StrategyStatusEnum.error.value, message=message)
        run = StrategyRunRecord(
            outcome.status, state["iterations"] + 1, now_utc(), result_count,
            exception=(type(e).__qualname__, str(e)), traceback=traceback.format_exc(),
        )
    client.record_strategy_run(entry.network, entry.strategy, run)
    return outcome


def make_logger(settings: StrategistSettings) -> logging.Logger:
    return process_logger(LOGGER_NAME, "strategist", settings.loglevel, settings.logfile)


def default_cache_directory() -> Path:
    """``$XDG_CACHE_HOME/alchemiscale-strategist``, or ``~/.cache/alchemiscale-strategist`` (as upstream)."""
    from ..base.client import default_cache_directory as client_cache

    return client_cache().parent / DEFAULT_CACHE_DIRNAME


class Strategist:
    """Runs due Strategies every ``sleep_interval`` seconds until stopped; ``cycle`` runs one round."""

    def __init__(self, settings: StrategistSettings):
        self.settings = settings
        self.scopes = settings.scopes or [Scope()]
        self.logger = make_logger(settings)
        self._clients = threading.local()
        self._all_clients: list[StrategistClient] = []
        self._clients_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="strategy")
        self._sleep = InterruptableSleep()
        self._stop = threading.Event()
        self.cycles = 0

    def client(self) -> StrategistClient:
        """This thread's client (each worker thread keeps its own connection and token)."""
        client = getattr(self._clients, "client", None)
        if client is None:
            s = self.settings
            client = StrategistClient(
                s.api_url, s.identifier, s.key,
                cache_directory=s.cache_directory or default_cache_directory(),
                cache_size_limit=s.cache_size_limit,
                use_local_cache=s.use_local_cache,
                max_retries=s.client_max_retries,
                retry_base_seconds=s.client_retry_base_seconds,
                retry_max_seconds=s.client_retry_max_seconds,
                verify=s.client_verify,
            )
            self._clients.client = client
            with self._clients_lock:
                self._all_clients.append(client)
        return client

    def due(self) -> list[NetworkStrategy]:
        """The due Strategies of every served scope, each network once."""
        found: dict[ScopedKey, NetworkStrategy] = {}
        client, interval = self.client(), self.settings.sleep_interval
        for scope in self.scopes:
            for entry in client.get_network_strategies(scope, due=True, min_sleep_interval=interval):
                found.setdefault(entry.network, entry)
        return [found[network] for network in sorted(found)]

    def _run_logged(self, entry: NetworkStrategy) -> RunOutcome:
        try:
            outcome = run_strategy(self.client(), entry)
        except AlchemiscaleClientError as e:
            outcome = RunOutcome(entry.network, "failed", message=str(e).splitlines()[0])
        except Exception as e:  # a bug here must not stop the other networks
            self.logger.exception("unexpected failure running the strategy of %s", entry.network)
            outcome = RunOutcome(entry.network, "failed", message=f"{type(e).__qualname__}: {e}")
        level = logging.WARNING if outcome.status in ("error", "failed") else logging.INFO
        self.logger.log(level, outcome.summary())
        return outcome

    def cycle(self) -> list[RunOutcome]:
        """Run every due Strategy once (up to ``max_workers`` at a time); what each run did."""
        self.cycles += 1
        try:
            entries = self.due()
        except AlchemiscaleClientError as e:
            self.logger.error("cannot list due strategies: %s", str(e).splitlines()[0])
            return []
        if not entries:
            self.logger.debug("no strategy is due")
            return []
        self.logger.info("running %d due strateg%s", len(entries), "y" if len(entries) == 1 else "ies")
        return list(self._pool.map(self._run_logged, entries))

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the loop to stop: its sleep ends at once; a cycle under way finishes first."""
        self._stop.set()
        self._sleep.interrupt()

    def start(self, max_cycles: Optional[int] = None) -> None:
        """Cycle every ``sleep_interval`` seconds until stopped (or after ``max_cycles``)."""
        self.logger.info("serving scopes %s at %s", ", ".join(map(str, self.scopes)), self.settings.api_url)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                self.cycle()
                if max_cycles is not None and self.cycles >= max_cycles:
                    break
                self._sleep(max(0.0, self.settings.sleep_interval - (time.monotonic() - started)))
        except (SleepInterrupted, KeyboardInterrupt):
            self.logger.info("stop requested")
        finally:
            self._stop.set()  # a second signal must not interrupt the shutdown
            self.close()

    def close(self) -> None:
        """Wait for runs under way, then close every client."""
        self._pool.shutdown(wait=True)
        with self._clients_lock:
            clients, self._all_clients = self._all_clients, []
        for client in clients:
            client.close()
