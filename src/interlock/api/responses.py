"""``POST /v1/responses``: Response API ingress, streaming and not, through the one ResponseBuilder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from interlock.api.auth import authenticate
from interlock.api.context import AppContext
from interlock.api.http import Request, Response, StreamingResponse, json_response
from interlock.api.sse import frame
from interlock.api.stored import resolve_chain, save_response
from interlock.engine import Trip
from interlock.ir import BuilderError, ResponseBuilder, new_id
from interlock.ir.errors import GatewayError
from interlock.ir.events import StreamError
from interlock.ir.parse import decode_json, parse_response_request
from interlock.ir.request import ResponseRequest
from interlock.ir.response import make_response_shell
from interlock.ir.warnings import RoutingWarning
from interlock.store.keys import KeyRecord

ENCRYPTED_REASONING = "reasoning.encrypted_content"


def _unknown_field_warnings(unknown: list[str]) -> list[RoutingWarning]:
    return [
        RoutingWarning(
            type="unsupported_field", code=f"unsupported_field_{name}"[:64], message=f"Ignored unknown field '{name}'."
        )
        for name in unknown
    ]


def _builder(req: ResponseRequest, trip: Trip) -> ResponseBuilder:
    model = trip.target.provider_model_id if trip.target else req.model or ""
    shell = make_response_shell(req, new_id("resp"), model)
    include = req.include or []
    exclude = req.reasoning is not None and req.reasoning.exclude is True
    return ResponseBuilder(
        shell, include_encrypted_reasoning=ENCRYPTED_REASONING in include, emit_reasoning_text=not exclude
    )


async def create_response(ctx: AppContext, request: Request) -> Response | StreamingResponse:
    key = await authenticate(request, ctx.authenticator)
    body = await ctx.read_body(request)
    data = decode_json(body)
    req, unknown = parse_response_request(data)
    routed, kept = await resolve_chain(ctx, key, data, req)  # previous_response_id expanded (api.stored)
    trip = ctx.gateway.prepare(routed, endpoint="responses")
    trip.warnings.extend(_unknown_field_warnings(unknown))
    explain = request.headers.get("x-interlock-explain", "").lower() in ("1", "true", "yes")
    await trip.open()
    builder = _builder(req if kept is not None else msgspec.structs.replace(req, store=False), trip)  # echo: kept?
    if not req.stream:
        async for event in trip.events():
            if isinstance(event, StreamError):
                raise event.error
            builder.feed(event)
        builder.complete(ctx.gateway.routing_metadata(trip, explain=explain))
        await save_response(ctx, key, kept, builder.response)
        return json_response(builder.response)
    return StreamingResponse(_stream(ctx, trip, builder, explain, key, kept), on_close=_on_close(trip))


async def _stream(
    ctx: AppContext, trip: Trip, builder: ResponseBuilder, explain: bool, key: KeyRecord, kept: list[Any] | None
) -> AsyncIterator[bytes]:
    """Relay the trip's events; after the first byte, every failure becomes ``error`` + ``response.failed``."""
    try:
        async for event in trip.events():
            if isinstance(event, StreamError):
                for out in builder.fail(event.error, ctx.gateway.routing_metadata(trip, explain=explain)):
                    yield frame(out)
                return
            for out in builder.feed(event):
                yield frame(out)
        final = builder.complete(ctx.gateway.routing_metadata(trip, explain=explain))
        await save_response(ctx, key, kept, builder.response)  # stored before the terminal event goes out
        for out in final:
            yield frame(out)
    except BuilderError as exc:
        ctx.log_internal(exc)
        for out in builder.fail(GatewayError("upstream_error", "The upstream sent an invalid event sequence.")):
            yield frame(out)


def _on_close(trip: Trip) -> Callable[[bool], Awaitable[None]]:
    async def close(disconnected: bool) -> None:
        if disconnected:
            await trip.cancel()

    return close


__all__ = ["create_response"]
