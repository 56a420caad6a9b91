"""Caps on every input: request heads, body shape (items, tools, schemas, metadata, nesting) and slow clients.

Theory of operation
-------------------
Two layers, because no single one sees everything:

- **In the app** (:func:`guard_routes`, any ASGI server): every handler is wrapped. Before it runs, the number
  and total size of the request's headers are checked. Its ``receive`` is wrapped too: when the last body chunk
  arrives (after authentication and the body-size cap, which the handler does first), the body is checked
  against the ``limits:`` settings and a refusal is raised *from* ``receive``, so it leaves through the app's
  error boundary like any other documented error (flat envelope, or the Anthropic one on /v1/messages, with
  ``X-Request-ID``). The check decodes a small "view" of the body (msgspec ``Raw`` slices, nothing else
  materialised) and measures nesting depth on the bytes, so it costs a few microseconds for a typical body.
  An invalid JSON body is left alone here: the endpoint's parser reports it.
- **In the server** (:class:`GuardedHttpToolsProtocol`, what ``interlock serve`` runs): a request head larger
  than ``server.max_header_bytes`` or with more than ``server.max_headers`` headers is answered before it is
  buffered whole; a head not complete ``limits.header_timeout_s`` after its first byte (or after the
  connection opened), or a body not complete ``limits.body_timeout_s`` after its head, closes the connection
  (slow-loris). uvicorn alone has neither timeout.

Codes: a count or size over a cap is 400 ``invalid_parameter_value`` naming the parameter (``input``,
``messages``, ``tools``, ``tools[3].parameters``, ``metadata``...); nesting deeper than ``max_json_depth`` is 400
``invalid_request``; too many or too large headers are 413 ``payload_too_large`` with no param.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from typing import Any, ClassVar, Final, Literal

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from interlock.api.app import Handler, Route
from interlock.api.context import AppContext
from interlock.api.errors import anthropic_error_response, openai_error_response
from interlock.api.http import Message, Receive, Request, Response, StreamingResponse
from interlock.config import LimitsSettings, ServerSettings
from interlock.ir.errors import GatewayError

Shape = Literal["responses", "chat", "messages"]

# Which body shape each JSON endpoint takes; other POST routes get the generic checks (depth) only.
SHAPES: Final[dict[str, Shape]] = {
    "/v1/responses": "responses",
    "/v1/chat/completions": "chat",
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "messages",
}
# The list of conversation items each shape names.
_ITEMS: Final[dict[Shape, str]] = {"responses": "input", "chat": "messages", "messages": "messages"}
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})

# --- body views: the few fields the caps look at, everything else skipped --------------------------------

_ABSENT: Final = msgspec.Raw()


class _BodyView(msgspec.Struct):
    input: msgspec.Raw = _ABSENT
    messages: msgspec.Raw = _ABSENT
    tools: msgspec.Raw = _ABSENT
    functions: msgspec.Raw = _ABSENT
    metadata: msgspec.Raw = _ABSENT
    gateway: msgspec.Raw = _ABSENT


class _FunctionView(msgspec.Struct):
    parameters: msgspec.Raw = _ABSENT


class _ToolView(msgspec.Struct):
    parameters: msgspec.Raw = _ABSENT  # Responses function tools; Chat's legacy ``functions``
    input_schema: msgspec.Raw = _ABSENT  # Anthropic Messages
    function: msgspec.Raw = _ABSENT  # Chat: {"type": "function", "function": {"parameters": ...}}


class _GatewayView(msgspec.Struct):
    metadata: msgspec.Raw = _ABSENT


class _GatewayMetadataView(msgspec.Struct):
    custom_fields: msgspec.Raw = _ABSENT


_BODY = msgspec.json.Decoder(_BodyView)
_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_MAP = msgspec.json.Decoder(dict[str, msgspec.Raw])
_TOOL = msgspec.json.Decoder(_ToolView)
_FUNCTION = msgspec.json.Decoder(_FunctionView)
_GATEWAY = msgspec.json.Decoder(_GatewayView)
_GATEWAY_METADATA = msgspec.json.Decoder(_GatewayMetadataView)
_STR = msgspec.json.Decoder(str)

# Nesting depth on the bytes: drop escaped backslashes and quotes, then string contents (odd pieces of a split
# on quotes), keep only brackets (objects and arrays count alike), then peel innermost "[]" pairs: each pass
# removes exactly one level.
_KEEP_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_AS_SQUARE: Final = bytes.maketrans(b"{}", b"[]")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether JSON ``body`` nests arrays and objects more than ``limit`` levels deep (C-speed byte passes)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(text.split(b'"')[::2]).translate(_AS_SQUARE, _KEEP_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def _too_many(param: str, what: str, count: int, cap: int) -> GatewayError:
    return GatewayError("invalid_parameter_value", f"'{param}' has {count} {what}; the limit is {cap}.", param=param)


def _list(raw: msgspec.Raw) -> list[msgspec.Raw] | None:
    if not raw:
        return None
    try:
        return _LIST.decode(raw)
    except msgspec.DecodeError:
        return None  # not a list: the endpoint's parser reports the type


def _map(raw: msgspec.Raw) -> dict[str, msgspec.Raw] | None:
    if not raw:
        return None
    try:
        return _MAP.decode(raw)
    except msgspec.DecodeError:
        return None


def _check_map(raw: msgspec.Raw, param: str, limits: LimitsSettings) -> None:
    entries = _map(raw)
    if entries is None:
        return
    if len(entries) > limits.max_metadata_pairs:
        raise _too_many(param, "entries", len(entries), limits.max_metadata_pairs)
    for key, value in entries.items():
        if len(key) > limits.max_metadata_key_chars:
            raise GatewayError(
                "invalid_parameter_value",
                f"A key of '{param}' is longer than {limits.max_metadata_key_chars} characters.",
                param=param,
            )
        if len(value) > limits.max_metadata_value_chars and bytes(memoryview(value)[:1]) == b'"':
            text = _STR.decode(value)  # escapes make the raw form longer than the text
            if len(text) > limits.max_metadata_value_chars:
                raise GatewayError(
                    "invalid_parameter_value",
                    f"The value of '{param}.{key[:64]}' is longer than {limits.max_metadata_value_chars} characters.",
                    param=param,
                )


def _schema(tool: msgspec.Raw, name: str, index: int) -> tuple[str, msgspec.Raw] | None:
    try:
        view = _TOOL.decode(tool)
        if view.parameters:
            return f"{name}[{index}].parameters", view.parameters
        if view.input_schema:
            return f"{name}[{index}].input_schema", view.input_schema
        if view.function:
            function = _FUNCTION.decode(view.function)
            if function.parameters:
                return f"{name}[{index}].function.parameters", function.parameters
    except msgspec.DecodeError:
        return None
    return None


def _check_tools(raw: msgspec.Raw, name: str, limits: LimitsSettings) -> None:
    tools = _list(raw)
    if tools is None:
        return
    if len(tools) > limits.max_tools:
        raise _too_many(name, "tools", len(tools), limits.max_tools)
    for index, tool in enumerate(tools):
        found = _schema(tool, name, index)
        if found is not None and len(found[1]) > limits.max_tool_schema_bytes:
            param = found[0]
            raise GatewayError(
                "invalid_parameter_value",
                f"'{param}' is {len(found[1])} bytes; the limit is {limits.max_tool_schema_bytes}.",
                param=param,
            )


def _check_gateway(raw: msgspec.Raw, limits: LimitsSettings) -> None:
    if not raw:
        return
    try:
        meta = _GATEWAY.decode(raw).metadata
        fields = _GATEWAY_METADATA.decode(meta).custom_fields if meta else _ABSENT
    except msgspec.DecodeError:
        return
    _check_map(fields, "gateway.metadata.custom_fields", limits)


def check_body(body: bytes, shape: Shape | None, limits: LimitsSettings) -> None:
    """Raise the documented error if ``body`` (JSON for ``shape``, or any JSON when None) breaks a cap."""
    try:
        view = _BODY.decode(body) if shape is not None else None
    except RecursionError:
        view = None  # deeper than msgspec goes: the depth check below refuses it
    except msgspec.DecodeError:
        return  # not a JSON object: the endpoint's parser reports it
    if json_depth_exceeds(body, limits.max_json_depth):
        raise GatewayError(
            "invalid_request", f"The request body nests deeper than {limits.max_json_depth} levels.", param=None
        )
    if view is None or shape is None:
        return
    name = _ITEMS[shape]
    items = _list(view.input if shape == "responses" else view.messages)
    if items is not None and len(items) > limits.max_input_items:
        raise _too_many(name, "items", len(items), limits.max_input_items)
    _check_tools(view.tools, "tools", limits)
    if shape == "chat":
        _check_tools(view.functions, "functions", limits)
    _check_map(view.metadata, "metadata", limits)
    _check_gateway(view.gateway, limits)


def check_headers(headers: Iterable[tuple[bytes, bytes]], target_bytes: int, server: ServerSettings) -> None:
    """Raise 413 ``payload_too_large`` when the request head has too many or too large headers."""
    count = 0
    size = target_bytes
    for name, value in headers:
        count += 1
        size += len(name) + len(value) + 4  # ": " and CRLF
    if count > server.max_headers:
        raise GatewayError(
            "payload_too_large", f"The request has {count} headers; the limit is {server.max_headers}.", param=None
        )
    if size > server.max_header_bytes:
        raise GatewayError(
            "payload_too_large",
            f"The request line and headers exceed {server.max_header_bytes} bytes.",
            param=None,
        )


# --- wiring into the app -------------------------------------------------------------------------------------


def _checked_receive(receive: Receive, shape: Shape | None, limits: LimitsSettings) -> Receive:
    chunks: list[bytes] = []
    done = False

    async def checked() -> Message:
        nonlocal done
        message = await receive()
        if done or message["type"] != "http.request":
            return message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            done = True
            body = b"".join(chunks)
            chunks.clear()
            check_body(body, shape, limits)
        return message

    return checked


def _guard(handler: Handler, shape: Shape | None, limits: LimitsSettings, server: ServerSettings) -> Handler:
    async def guarded(ctx: AppContext, request: Request) -> Response | StreamingResponse:
        scope = request.scope
        check_headers(scope["headers"], len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")), server)
        if request.method in _BODY_METHODS:
            request.receive = _checked_receive(request.receive, shape, limits)
        return await handler(ctx, request)

    return guarded


def guard_routes(routes: list[Route], limits: LimitsSettings, server: ServerSettings) -> list[Route]:
    """``routes`` with every handler wrapped in the header and body checks."""
    return [
        dataclasses.replace(r, methods={m: _guard(h, SHAPES.get(r.path), limits, server) for m, h in r.methods.items()})
        for r in routes
    ]


# --- the server: head size, head and body timeouts ----------------------------------------------------------


def _raw_response(response: Response) -> bytes:
    head = [f"HTTP/1.1 {response.status} {'Payload Too Large' if response.status == 413 else 'Bad Request'}"]
    head += [f"{k}: {v}" for k, v in response.headers.items()]
    head += [f"content-length: {len(response.body)}", "connection: close", "", ""]
    return "\r\n".join(head).encode("latin-1") + response.body


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a head over the limits."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus head-size caps and head/body timeouts (see the module docstring).

    The limits are class attributes set by :func:`configure_server` (once per server process, before it
    accepts connections) because uvicorn names the protocol class by import string to its worker processes.
    """

    max_header_bytes: ClassVar[int] = ServerSettings().max_header_bytes
    max_headers: ClassVar[int] = ServerSettings().max_headers
    header_timeout_s: ClassVar[float] = LimitsSettings().header_timeout_s
    body_timeout_s: ClassVar[float] = LimitsSettings().body_timeout_s

    _awaiting_head = True
    _head_bytes = 0
    _header_count = 0
    _timer: asyncio.TimerHandle | None = None
    _refusal: GatewayError | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_bytes += len(data)
            if self._timer is None:
                self._arm(self.header_timeout_s)
        super().data_received(data)
        if self._awaiting_head and self._head_bytes > self.max_header_bytes and not self.transport.is_closing():
            self._refuse_head(f"The request line and headers exceed {self.max_header_bytes} bytes.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_headers:
            self._refusal = GatewayError(
                "payload_too_large", f"The request has more than {self.max_headers} headers.", param=None
            )
            raise _HeadRefused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_bytes = 0
        self._arm(self.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._awaiting_head = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
            return
        err, self._refusal = self._refusal, None
        url = getattr(self, "url", b"") or b""
        render = anthropic_error_response if url.startswith(b"/v1/messages") else openai_error_response
        self.transport.write(_raw_response(render(err)))
        self.transport.close()

    def _refuse_head(self, message: str) -> None:
        self._refusal = GatewayError("payload_too_large", message, param=None)
        self.send_400_response(message)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        # The head (or the body) did not arrive in time: drop the connection; the app, if already running,
        # sees http.disconnect.
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()


def configure_server(server: ServerSettings, limits: LimitsSettings) -> None:
    """Set the server-side limits :class:`GuardedHttpToolsProtocol` enforces in this process."""
    cls = GuardedHttpToolsProtocol
    cls.max_header_bytes = server.max_header_bytes
    cls.max_headers = server.max_headers
    cls.header_timeout_s = limits.header_timeout_s
    cls.body_timeout_s = limits.body_timeout_s


HTTP_PROTOCOL: Final = "interlock.api.limits:GuardedHttpToolsProtocol"


def uvicorn_options(server: ServerSettings, limits: LimitsSettings) -> dict[str, Any]:
    """The uvicorn options that go with :func:`configure_server` (protocol by import string, for workers)."""
    return {
        "http": HTTP_PROTOCOL,
        "timeout_keep_alive": limits.keep_alive_timeout_s,
        "h11_max_incomplete_event_size": server.max_header_bytes,
    }


__all__ = [
    "HTTP_PROTOCOL",
    "SHAPES",
    "GuardedHttpToolsProtocol",
    "Shape",
    "check_body",
    "check_headers",
    "configure_server",
    "guard_routes",
    "json_depth_exceeds",
    "uvicorn_options",
]
