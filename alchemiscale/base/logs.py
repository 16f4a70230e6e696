"""Request ids, the JSON log format and the redaction of secrets, for the APIs and compute services.

Every request gets an id: the caller's ``X-Request-ID`` when it is a plain token of at most 128
characters, a fresh one otherwise. It is returned in the ``X-Request-ID`` response header and
carried by every log line written while the request runs (``request_id``; ``-`` outside requests).

``ALCHEMISCALE_LOG_FORMAT=json`` writes one JSON object per line (``time``, ``level``, ``logger``,
``message``, ``request_id``, ``exc_info``); ``text`` writes plain lines with the request id; unset,
the server's own logging configuration is left alone. Whatever the format, bearer tokens, JWTs and
``password=``/``key=``/``secret=`` values are masked in every record's message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, Optional

REQUEST_ID_HEADER = "x-request-id"
_ACCEPTED_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

request_id_var: ContextVar[str] = ContextVar("alchemiscale_request_id", default="-")

# What a secret looks like in a message: a bearer credential, a JWT, a value after a secret-ish name.
_SECRET_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1***"),
    (re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), "***"),
    (re.compile(r"(?i)\b(password|passwd|pass|key|secret|token|access_token)(\"?\s*[=:]\s*\"?)[^\s\"'&,}]+"), r"\1\2***"),
]

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Loggers that servers configure with handlers of their own; they are given ours instead.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access")


def redact(text: str) -> str:
    """``text`` with anything shaped like a credential masked."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _record_with_context(factory):
    """A log record factory adding ``request_id`` and masking secrets in every record's message."""

    def make(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = request_id_var.get()
        if record.args or isinstance(record.msg, str):
            record.msg, record.args = redact(record.getMessage()), None
        return record

    make.alchemiscale_context = True
    return make


def install_log_context() -> None:
    """Every record of this process gets ``request_id`` and redaction, whatever handler writes it."""
    if not getattr(logging.getLogRecordFactory(), "alchemiscale_context", False):
        logging.setLogRecordFactory(_record_with_context(logging.getLogRecordFactory()))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        if record.exc_info:
            entry["exc_info"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class _RedactingTextFormatter(logging.Formatter):
    def formatException(self, exc_info) -> str:
        return redact(super().formatException(exc_info))


def configure_logging(log_format: LogFormat = "text", level: str | int = "INFO") -> None:
    """One stderr handler on the root logger (and on the servers' own loggers) in ``log_format``."""
    install_log_context()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else _RedactingTextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        for existing in list(server_logger.handlers):
            server_logger.removeHandler(existing)
        server_logger.propagate = True


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if _ACCEPTED_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives each HTTP request an id (see the module docstring) and returns it in ``X-Request-ID``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope.get("headers", []))
        token = request_id_var.set(request_id)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER.encode()]
                message = {**message, "headers": [*headers, (REQUEST_ID_HEADER.encode(), request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def add_request_ids(app) -> None:
    app.add_middleware(RequestIdMiddleware)


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime


def process_logger(
    name: str, label: str, loglevel: str, logfile: Optional[Path], log_format: LogFormat = "text"
) -> logging.Logger:
    """The logger of a long-running process (compute service, compute manager, strategist):
    ``[UTC time] [label] [LEVEL] message`` lines (or JSON objects) to stdout and, if given, to ``logfile``."""
    logger = logging.getLogger(name)
    logger.setLevel(loglevel)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = (
        JsonFormatter() if log_format == "json"
        else _UTCFormatter(f"[%(asctime)s UTC] [{label}] [%(levelname)s] %(message)s")
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if logfile is not None:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logfile))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger
