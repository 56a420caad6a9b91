"""The intermediate representation: the Response API request model, internal stream events, builders, errors."""

from interlock.ir.builder import BuilderError, ResponseBuilder, new_id, usage_dict
from interlock.ir.chat_builder import ChatBuilder
from interlock.ir.chat_in import parse_chat_request
from interlock.ir.errors import ERRORS, AttemptsExhausted, GatewayError, UpstreamError
from interlock.ir.messages_builder import MessagesBuilder
from interlock.ir.messages_in import estimate_input_tokens, parse_messages_request
from interlock.ir.parse import decode_json, parse_response_request
from interlock.ir.response import make_response_shell
from interlock.ir.warnings import RoutingWarning

__all__ = [
    "ERRORS",
    "AttemptsExhausted",
    "BuilderError",
    "ChatBuilder",
    "GatewayError",
    "MessagesBuilder",
    "ResponseBuilder",
    "RoutingWarning",
    "UpstreamError",
    "decode_json",
    "estimate_input_tokens",
    "make_response_shell",
    "new_id",
    "parse_chat_request",
    "parse_messages_request",
    "parse_response_request",
    "usage_dict",
]
