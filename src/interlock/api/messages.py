"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: Anthropic-format ingress served by any upstream.

Authentication takes ``x-api-key`` (what the anthropic SDK sends) or ``Authorization: Bearer``;
``anthropic-version`` and ``anthropic-beta`` are accepted and not needed. Errors leave in the Anthropic envelope
(the routes are registered with ``anthropic_errors=True``); a failure after the first byte is an ``error``
event. Every response carries ``request-id`` (the SDK reads it) besides ``x-request-id``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from interlock.api.auth import authenticate
from interlock.api.chat import (
    close_on_disconnect,
    rename_param,
    require_chat_format_models,
    response_only_warnings,
    wants_explain,
)
from interlock.api.context import AppContext
from interlock.api.errors import anthropic_error_body
from interlock.api.http import Request, Response, StreamingResponse, json_response
from interlock.api.sse import frame
from interlock.engine import Trip, split_suffix
from interlock.ir import BuilderError, MessagesBuilder, estimate_input_tokens, new_id, parse_messages_request
from interlock.ir.errors import GatewayError
from interlock.ir.events import StreamError
from interlock.ir.parse import decode_json

# IR field paths -> the Messages request field a client sent.
MESSAGES_PARAMS: dict[str, str] = {
    "input": "messages",
    "instructions": "system",
    "max_output_tokens": "max_tokens",
    "reasoning": "thinking",
    "reasoning.effort": "thinking",
    "text": "output_config.format",
    "text.format": "output_config.format",
    "stop": "stop_sequences",
    "user": "metadata.user_id",
    "parallel_tool_calls": "tool_choice.disable_parallel_tool_use",
    "extra_params": "messages",
}


async def create_message(ctx: AppContext, request: Request) -> Response | StreamingResponse:
    await authenticate(request, ctx.authenticator, allow_x_api_key=True)
    body = await ctx.read_body(request)
    parsed, warnings = parse_messages_request(decode_json(body))
    req = require_chat_format_models(ctx, parsed)
    try:
        trip = ctx.gateway.prepare(req, endpoint="chat_completions")
        trip.warnings.extend(warnings)
        trip.warnings.extend(response_only_warnings(parsed, req))
        await trip.open()
    except GatewayError as err:
        raise rename_param(err, MESSAGES_PARAMS) from None
    explain = wants_explain(request)
    model = trip.target.provider_model_id if trip.target else req.model or ""
    include_text = not (req.reasoning is not None and req.reasoning.exclude)
    builder = MessagesBuilder(new_id("msg"), model, include_thinking_text=include_text)
    headers = {"request-id": request.request_id}
    if not req.stream:
        async for event in trip.events():
            if isinstance(event, StreamError):
                raise rename_param(event.error, MESSAGES_PARAMS)
            builder.feed(event)
        builder.complete(ctx.gateway.routing_metadata(trip, explain=explain))
        return json_response(builder.message, headers=headers)
    return StreamingResponse(_stream(ctx, trip, builder, explain), headers=headers, on_close=close_on_disconnect(trip))


async def _stream(ctx: AppContext, trip: Trip, builder: MessagesBuilder, explain: bool) -> AsyncIterator[bytes]:
    """Relay the trip's events; after the first byte a failure is one ``error`` event, then the stream ends."""
    try:
        async for event in trip.events():
            if isinstance(event, StreamError):
                for out in builder.fail(anthropic_error_body(event.error)):
                    yield frame(out)
                return
            for out in builder.feed(event):
                yield frame(out)
        for out in builder.complete(ctx.gateway.routing_metadata(trip, explain=explain)):
            yield frame(out)
    except BuilderError as exc:
        ctx.log_internal(exc)
        err = GatewayError("upstream_error", "The upstream sent an invalid event sequence.")
        for out in builder.fail(anthropic_error_body(err)):
            yield frame(out)


async def count_tokens(ctx: AppContext, request: Request) -> Response:
    """``{"input_tokens": N}``: a local estimate (see ``ir.messages_in.estimate_input_tokens``), no upstream call."""
    await authenticate(request, ctx.authenticator, allow_x_api_key=True)
    body = await ctx.read_body(request)
    req, _ = parse_messages_request(decode_json(body), count_tokens=True)
    names = [req.model] if req.model is not None else list(req.gateway.models or []) if req.gateway else []
    for i, name in enumerate(names):
        if ctx.gateway.catalog.resolve(split_suffix(name)[0]) is None:
            raise GatewayError(
                "model_not_found",
                f"The model '{name}' does not exist.",
                param="model" if req.model is not None else f"gateway.models[{i}]",
            )
    return json_response({"input_tokens": estimate_input_tokens(req)}, headers={"request-id": request.request_id})


__all__ = ["MESSAGES_PARAMS", "count_tokens", "create_message"]
