"""The bridge's wire format: one JSON request per line in, one JSON event per line out (see sii.bridge)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Any

METHODS = ("query", "list_tools", "interrupt")


class BridgeError(Exception):
    """A request that cannot be served; it becomes an `error` event and the bridge goes on."""

    def __init__(self, code: str, message: str, request_id: Any = None, **details: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.request_id, self.details = code, message, request_id, details


@dataclass(frozen=True)
class Request:
    request_id: Any
    method: str
    params: dict[str, Any]


def parse_request(line: str) -> Request:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BridgeError("INVALID_REQUEST", f"not a JSON line: {exc}") from None
    if not isinstance(data, dict):
        raise BridgeError("INVALID_REQUEST", "a request must be a JSON object")
    request_id = data.get("request_id")
    version = str(data.get("protocol_version", "1"))
    if version.split(".")[0] != "1":
        message = f"protocol {version} is not supported; this bridge speaks 1.x"
        raise BridgeError("UNSUPPORTED_PROTOCOL", message, request_id)
    method, params = data.get("method"), data.get("params", {})
    if method not in METHODS:
        raise BridgeError("UNKNOWN_METHOD", f"unknown method {method!r}; known: {', '.join(METHODS)}", request_id)
    if not isinstance(params, dict):
        raise BridgeError("INVALID_REQUEST", "params must be a JSON object", request_id)
    return Request(request_id, method, params)


class Output:
    """Event lines on the protocol stream, one writer at a time; once the client has gone, writes are dropped."""

    def __init__(self, stream: IO[str], shield: Callable[[], AbstractContextManager[None]]) -> None:
        self._stream = stream
        self._shield = shield
        self._lock = threading.Lock()
        self._gone = False

    def send(self, request_id: Any, kind: str, **fields: Any) -> None:
        line = json.dumps({"type": kind, "request_id": request_id, **fields}) + "\n"
        with self._shield(), self._lock:
            if self._gone:
                return
            try:
                self._stream.write(line)
                self._stream.flush()
            except (OSError, ValueError):
                self._gone = True

    def error(self, exc: BridgeError) -> None:
        self.send(exc.request_id, "error", error={"code": exc.code, "message": exc.message, "details": exc.details})
