"""A stratocaster Strategy that always fails, to see the failure recorded on the network's Strategy."""

from __future__ import annotations

from stratocaster.base import Strategy, StrategySettings

FAILURE = "this strategy cannot decide on purpose"


class FailingStrategySettings(StrategySettings):
    pass


class FailingStrategy(Strategy):
    _settings_cls = FailingStrategySettings

    @classmethod
    def _default_settings(cls):
        return FailingStrategySettings()

    def _propose(self, alchemical_network, protocol_results):
        raise RuntimeError(FAILURE)
