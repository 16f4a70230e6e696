"""Keep third-party banners out of user output.

pymbar logs a "JAX NOT FOUND" banner (and a timeseries caveat) when first imported, and openmmtools'
multistate package warns that its API is experimental every time a sampler or reporter is built.
Those are warnings about the libraries, not about the calculation.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

NOISY_LOGGERS = ("pymbar", "openmmtools.multistate", "openmmtools.utils")


@contextlib.contextmanager
def quiet_library_logs() -> Iterator[None]:
    """Raise the noisy libraries' loggers to ERROR for the duration, then restore them."""
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, previous):
            logger.setLevel(level)
