"""Request context carried into every log line (request id, user id)."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
user_id_var: ContextVar[str] = ContextVar("user_id", default="-")

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def accept_or_make_request_id(client_value: str | None) -> str:
    """Keep a well-formed client id (so traces join up); otherwise make one."""
    if client_value and _CLIENT_REQUEST_ID.match(client_value):
        return client_value
    return uuid.uuid4().hex


def current_request_id() -> str:
    return request_id_var.get()


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}


class TextFormatter(logging.Formatter):
    """The development format: the line, then the `extra=` fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        return line
