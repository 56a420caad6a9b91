"""The intermediate representation: the Response API request model, internal stream events, builders, errors."""

from interlock.ir.builder import BuilderError, ResponseBuilder, new_id, usage_dict
from interlock.ir.errors import ERRORS, AttemptsExhausted, GatewayError, UpstreamError
from interlock.ir.parse import decode_json, parse_response_request
from interlock.ir.response import make_response_shell
from interlock.ir.warnings import RoutingWarning

__all__ = [
    "ERRORS",
    "AttemptsExhausted",
    "BuilderError",
    "GatewayError",
    "ResponseBuilder",
    "RoutingWarning",
    "UpstreamError",
    "decode_json",
    "make_response_shell",
    "new_id",
    "parse_response_request",
    "usage_dict",
]
