"""``POST /v1/responses``: Response API ingress, streaming and not, through the one ResponseBuilder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from interlock.api.auth import authenticate
from interlock.api.context import AppContext
from interlock.api.http import Request, Response, StreamingResponse, json_response
from interlock.api.sse import frame
from interlock.engine import Trip
from interlock.ir import BuilderError, ResponseBuilder, new_id
from interlock.ir.errors import GatewayError
from interlock.ir.events import StreamError
from interlock.ir.parse import decode_json, parse_response_request
from interlock.ir.request import ResponseRequest
from interlock.ir.response import make_response_shell
from interlock.ir.warnings import RoutingWarning

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
    await authenticate(request, ctx.authenticator)
    body = await ctx.read_body(request)
    req, unknown = parse_response_request(decode_json(body))
    trip = ctx.gateway.prepare(req)
    trip.warnings.extend(_unknown_field_warnings(unknown))
    explain = request.headers.get("x-interlock-explain", "").lower() in ("1", "true", "yes")
    await trip.open()
    builder = _builder(req, trip)
    if not req.stream:
        async for event in trip.events():
            if isinstance(event, StreamError):
                raise event.error
            builder.feed(event)
        builder.complete(ctx.gateway.routing_metadata(trip, explain=explain))
        return json_response(builder.response)
    return StreamingResponse(_stream(ctx, trip, builder, explain), on_close=_on_close(trip))


async def _stream(ctx: AppContext, trip: Trip, builder: ResponseBuilder, explain: bool) -> AsyncIterator[bytes]:
    """Relay the trip's events; after the first byte, every failure becomes ``error`` + ``response.failed``."""
    try:
        async for event in trip.events():
            if isinstance(event, StreamError):
                for out in builder.fail(event.error, ctx.gateway.routing_metadata(trip, explain=explain)):
                    yield frame(out)
                return
            for out in builder.feed(event):
                yield frame(out)
        for out in builder.complete(ctx.gateway.routing_metadata(trip, explain=explain)):
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
