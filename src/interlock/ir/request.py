"""The request IR: the Response API's own request model as typed msgspec Structs.

Every ingress (Responses, Chat Completions, Anthropic Messages) produces a :class:`ResponseRequest`; every
provider adapter reads one. Field names are the Response API's. Fields that only other ingress formats have
(``stop``, ``seed``, ``n``, ``logit_bias``...) sit at the end so Chat requests lose nothing on the way in.

Polymorphic wire fields (input items, content parts, tools) are tagged unions. The Response API lets a
message omit ``type`` and allows item and tool types we do not model (hosted tools); :func:`ir.parse` fills the
tag or wraps such values as :class:`NativeItem` / :class:`NativeTool` before decoding, so decoding and
validation stay one msgspec pass.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

# --- content parts ------------------------------------------------------------------------------------


class Part(Struct, kw_only=True, omit_defaults=True, tag_field="type"):
    """Base of content parts."""


class InputText(Part, tag="input_text"):
    text: str


class InputImage(Part, tag="input_image"):
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["low", "high", "auto", "original"] | None = None


class InputFile(Part, tag="input_file"):
    file_data: str | None = None
    file_url: str | None = None
    file_id: str | None = None
    filename: str | None = None


class OutputText(Part, tag="output_text"):
    text: str
    annotations: list[dict[str, Any]] = []
    logprobs: list[dict[str, Any]] | None = None


class RefusalPart(Part, tag="refusal"):
    refusal: str


class ReasoningTextPart(Part, tag="reasoning_text"):
    text: str


ContentPart = InputText | InputImage | InputFile | OutputText | RefusalPart | ReasoningTextPart
ToolOutputPart = InputText | InputImage | InputFile

# --- input items --------------------------------------------------------------------------------------


class Item(Struct, kw_only=True, omit_defaults=True, tag_field="type"):
    """Base of input/output items."""


Role = Literal["user", "assistant", "system", "developer"]


class Message(Item, tag="message"):
    role: Role
    content: str | list[ContentPart]
    id: str | None = None
    status: str | None = None
    phase: str | None = None


class FunctionCall(Item, tag="function_call"):
    call_id: Annotated[str, Meta(min_length=1)]
    name: Annotated[str, Meta(min_length=1)]
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutput(Item, tag="function_call_output"):
    call_id: Annotated[str, Meta(min_length=1)]
    output: str | list[ToolOutputPart]
    id: str | None = None
    status: str | None = None


class SummaryText(Struct, kw_only=True, omit_defaults=True, tag_field="type", tag="summary_text"):
    text: str


class Reasoning(Item, tag="reasoning"):
    id: str | None = None
    summary: list[SummaryText] = []
    content: list[ReasoningTextPart] | None = None
    encrypted_content: str | None = None
    status: str | None = None


class NativeItem(Item, tag="native"):
    """An item we do not model (hosted-tool replays, item_reference...), kept verbatim."""

    raw: dict[str, Any]


InputItem = Message | FunctionCall | FunctionCallOutput | Reasoning | NativeItem

# --- tools --------------------------------------------------------------------------------------------


class Tool(Struct, kw_only=True, omit_defaults=True, tag_field="type"):
    """Base of tool definitions."""


class FunctionTool(Tool, tag="function"):
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class NativeTool(Tool, tag="native"):
    """A hosted or vendor tool (web_search, file_search, mcp...), passed through only where native."""

    raw: dict[str, Any]


AnyTool = FunctionTool | NativeTool

# tool_choice: "auto" | "none" | "required" | {"type": "function", "name": ...} | other objects (kept raw)
ToolChoice = Literal["auto", "none", "required"] | dict[str, Any]

# --- text, reasoning ----------------------------------------------------------------------------------


class TextFormat(Struct, kw_only=True, omit_defaults=True):
    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class TextConfig(Struct, kw_only=True, omit_defaults=True):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max", "off"]


class ReasoningConfig(Struct, kw_only=True, omit_defaults=True):
    effort: Effort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None
    exclude: bool | None = None


# --- gateway ------------------------------------------------------------------------------------------

Optimize = Literal["cost", "cost-focus", "ttft", "ttft-focus", "tps", "tps-focus", "balanced"]
Percentile = Literal["p50", "p95"]
PositiveInt = Annotated[int, Meta(gt=0)]
PositiveFloat = Annotated[float, Meta(gt=0)]


class RoutingOptions(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """``gateway.routing``: the 20 fields of the SDK's RoutingOptions (auriko-api.md 2.2)."""

    optimize: Optimize | None = None
    weights: dict[str, float] | None = None
    max_cost_per_1m: PositiveFloat | None = None
    max_ttft_ms: PositiveInt | None = None
    min_throughput_tps: PositiveFloat | None = None
    ttft_percentile: Percentile | None = None
    throughput_percentile: Percentile | None = None
    providers: list[str] | None = None
    exclude_providers: list[str] | None = None
    prefer: str | None = None
    mode: Literal["pool", "fallback"] | None = None
    allow_fallbacks: bool | None = None
    max_fallback_attempts: Annotated[int, Meta(ge=1, le=19)] | None = None
    timeout_ms: PositiveInt | None = None
    deadline_ms: PositiveInt | None = None
    data_policy: Literal["none", "no_training", "zdr"] | None = None
    only_byok: bool | None = None
    only_platform: bool | None = None
    require_parameters: bool | None = None
    tier: str | None = None


class GatewayMetadata(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    tags: Annotated[list[Annotated[str, Meta(max_length=256)]], Meta(max_length=64)] | None = None
    user_id: Annotated[str, Meta(max_length=256)] | None = None
    trace_id: Annotated[str, Meta(max_length=256)] | None = None
    custom_fields: dict[str, str] | None = None


class Gateway(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    models: Annotated[list[Annotated[str, Meta(min_length=1)]], Meta(min_length=1, max_length=10)] | None = None
    routing: RoutingOptions | None = None
    metadata: GatewayMetadata | None = None


# --- the request --------------------------------------------------------------------------------------

MetadataMap = Annotated[
    dict[Annotated[str, Meta(max_length=64)], Annotated[str, Meta(max_length=512)]], Meta(max_length=16)
]


class ResponseRequest(Struct, kw_only=True, omit_defaults=True):
    """A Response API request (auriko-api.md 1.2, protocols.md 1.1) plus the gateway namespaces."""

    model: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    input: str | list[InputItem] = []
    instructions: str | None = None
    tools: list[AnyTool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: Annotated[int, Meta(ge=1)] | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    top_k: Annotated[int, Meta(ge=0)] | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    frequency_penalty: Annotated[float, Meta(ge=-2, le=2)] | None = None
    presence_penalty: Annotated[float, Meta(ge=-2, le=2)] | None = None
    max_tool_calls: Annotated[int, Meta(ge=1)] | None = None
    stream: bool = False
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    truncation: Literal["auto", "disabled"] | None = None
    metadata: MetadataMap | None = None
    include: list[str] | None = None
    user: str | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    service_tier: str | None = None
    background: bool | None = None
    gateway: Gateway | None = None
    extensions: dict[str, Any] | None = None
    # Chat Completions parameters with no Response API field; kept so Chat ingress loses nothing.
    stop: list[str] | None = None
    seed: int | None = None
    n: Annotated[int, Meta(ge=1, le=128)] | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    extra_params: dict[str, Any] | None = None

    def input_items(self) -> list[InputItem]:
        """``input`` as a list of items (a string is one user message)."""
        if isinstance(self.input, str):
            return [Message(role="user", content=self.input)]
        return self.input


REQUEST_FIELDS: frozenset[str] = frozenset(ResponseRequest.__struct_fields__)


def to_builtins(obj: Any) -> Any:
    """Structs -> JSON-ready builtins (tags included, defaults omitted)."""
    return msgspec.to_builtins(obj)


__all__ = [
    "REQUEST_FIELDS",
    "AnyTool",
    "ContentPart",
    "Effort",
    "FunctionCall",
    "FunctionCallOutput",
    "FunctionTool",
    "Gateway",
    "GatewayMetadata",
    "InputFile",
    "InputImage",
    "InputItem",
    "InputText",
    "Message",
    "NativeItem",
    "NativeTool",
    "Optimize",
    "OutputText",
    "Reasoning",
    "ReasoningConfig",
    "ReasoningTextPart",
    "RefusalPart",
    "ResponseRequest",
    "Role",
    "RoutingOptions",
    "SummaryText",
    "TextConfig",
    "TextFormat",
    "ToolChoice",
    "ToolOutputPart",
    "to_builtins",
]
