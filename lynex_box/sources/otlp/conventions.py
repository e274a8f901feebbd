"""The attribute tables of the OTLP span mapping: which attribute feeds which span column, in priority order.

Generations covered: OTel GenAI current and deprecated (`gen_ai.*`), OpenInference (`llm.*`, `openinference.*`,
`input.value`...), OpenLLMetry old and new (`traceloop.*`, `gen_ai.prompt.N.*`, `llm.usage.*`), Langfuse v3/v5
(`langfuse.*`), OpenLIT (`gen_ai.usage.cost`). A convention change is a table edit here, not a code change in
`mapping`. Data only: this module must never hold logic beyond building lookup sets, and never do I/O.
"""

from __future__ import annotations

from typing import Final

# --- kind --------------------------------------------------------------------------------------------------------
# Looked up lowercased, in this order; a source that yields "span" does not stop the search.
KIND_SOURCES: Final[tuple[tuple[str, dict[str, str]], ...]] = (
    (
        "openinference.span.kind",
        {
            "llm": "llm",
            "chain": "chain",
            "tool": "tool",
            "retriever": "retriever",
            "embedding": "embedding",
            "agent": "agent",
            "reranker": "reranker",
            "guardrail": "guardrail",
            "evaluator": "evaluator",
            "decision": "chain",
            "prompt": "span",
            "unknown": "span",
        },
    ),
    (
        "langfuse.observation.type",
        {
            "generation": "llm",
            "span": "span",
            "event": "event",
            "agent": "agent",
            "tool": "tool",
            "chain": "chain",
            "retriever": "retriever",
            "evaluator": "evaluator",
            "embedding": "embedding",
            "guardrail": "guardrail",
            "reranker": "reranker",
        },
    ),
    (
        "gen_ai.operation.name",
        {
            "chat": "chat",
            "generate_content": "llm",
            "text_completion": "llm",
            "embeddings": "embedding",
            "retrieval": "retriever",
            "search_memory": "retriever",
            "create_agent": "agent",
            "invoke_agent": "agent",
            "execute_tool": "tool",
            "invoke_workflow": "chain",
            "plan": "chain",
            "rerank": "reranker",
        },
    ),
    ("traceloop.span.kind", {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"}),
    (
        "llm.request.type",
        {"chat": "chat", "completion": "llm", "embedding": "embedding", "rerank": "reranker"},
    ),
)
LLM_KINDS: Final = frozenset({"llm", "chat"})

# --- provider ----------------------------------------------------------------------------------------------------
# Deprecated `gen_ai.system` values and OpenInference/OpenLLMetry spellings → current `gen_ai.provider.name`.
PROVIDER_ALIASES: Final[dict[str, str]] = {
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azureopenai": "azure.ai.openai",
    "xai": "x_ai",
    "x-ai": "x_ai",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "vertex ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gen_ai",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "aws": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "aws_bedrock": "aws.bedrock",
    "watsonx": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
}

# --- scalar columns: attribute keys in priority order --------------------------------------------------------------
STRING_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "model": (
        "gen_ai.request.model",
        "llm.request.model_name",
        "llm.model_name",
        "langfuse.observation.model.name",
    ),
    "response_model": ("gen_ai.response.model", "llm.response.model_name"),
    "session_id": ("session.id", "langfuse.session.id", "gen_ai.conversation.id"),
    "user_id": ("user.id", "langfuse.user.id", "llm.user", "enduser.id"),  # enduser.id: OTel general conventions
    "environment": ("langfuse.environment", "deployment.environment.name", "deployment.environment"),
    "release": ("langfuse.release",),
    "prompt_name": ("langfuse.observation.prompt.name", "traceloop.prompt.key"),
    "prompt_version": (
        "langfuse.observation.prompt.version",
        "traceloop.prompt.version",
        "llm.prompt_template.version",
    ),
}
# Token counts: input includes cache reads and writes, output includes reasoning (OTel semantics).
INT_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "cached_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "_cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    "total_tokens": ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total"),
}
# Costs reported by the client (USD).
COST_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "input_cost": ("llm.cost.prompt",),
    "output_cost": ("llm.cost.completion",),
    "total_cost": ("gen_ai.usage.cost", "llm.cost.total"),
}
RESOURCE_STRING_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "environment": ("deployment.environment.name", "deployment.environment"),
    "release": ("service.version",),
}
RESOURCE_KEPT: Final = ("service.name",)  # copied into `attributes` (the rest of the resource is not stored)

# --- Langfuse JSON usage/cost details --------------------------------------------------------------------------------
LANGFUSE_USAGE = "langfuse.observation.usage_details"
LANGFUSE_COST = "langfuse.observation.cost_details"
USAGE_CACHE_READ_KEYS: Final = (
    "input_cached_tokens",
    "input_cache_read",
    "cache_read_input_tokens",
    "cached_tokens",
)
USAGE_CACHE_WRITE_KEYS: Final = ("input_cache_creation", "input_cache_write", "cache_creation_input_tokens")
USAGE_REASONING_KEYS: Final = ("output_reasoning_tokens", "output_reasoning", "reasoning_tokens")
# Added to "input" because Langfuse reports cached tokens outside of it (Anthropic's names do not start with input_).
USAGE_EXTRA_INPUT_KEYS: Final = ("cache_read_input_tokens", "cache_creation_input_tokens")

# --- content -------------------------------------------------------------------------------------------------------
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
LEGACY_PROMPT = "gen_ai.prompt"  # span-attribute form of the old gen_ai.content.prompt event
LEGACY_COMPLETION = "gen_ai.completion"
# Generic values, in priority order; all but input.value/output.value are always JSON text.
INPUT_VALUE_SOURCES: Final = (
    "gen_ai.tool.call.arguments",
    "langfuse.observation.input",
    "traceloop.entity.input",
    "input.value",
)
OUTPUT_VALUE_SOURCES: Final = (
    "gen_ai.tool.call.result",
    "langfuse.observation.output",
    "traceloop.entity.output",
    "output.value",
)
MIME_TYPES: Final = {"input.value": "input.mime_type", "output.value": "output.mime_type"}
FINISH_REASON_SOURCES: Final = ("gen_ai.response.finish_reasons", "llm.finish_reason")

# Flattened families, found by the key's first two dot segments, then the full prefix.
FLAT_GROUPS: Final[dict[str, tuple[str, str]]] = {
    "llm.input_messages.": ("llm.input_messages.", "oi_input"),
    "llm.output_messages.": ("llm.output_messages.", "oi_output"),
    "gen_ai.prompt.": ("gen_ai.prompt.", "indexed_input"),
    "gen_ai.completion.": ("gen_ai.completion.", "indexed_output"),
    "llm.prompts.": ("llm.prompts.", "indexed_input_old"),
    "llm.completions.": ("llm.completions.", "indexed_output_old"),
    "traceloop.association.": ("traceloop.association.properties.", "association"),
    "langfuse.observation.": ("langfuse.observation.metadata.", "metadata"),
    "langfuse.trace.": ("langfuse.trace.metadata.", "trace_metadata"),
}
ASSOCIATION_USER_KEYS: Final = frozenset({"user_id", "userid", "user", "helicone-user-id"})
ASSOCIATION_SESSION_KEYS: Final = frozenset(
    {"session_id", "sessionid", "session", "helicone-session-id", "conversation_id", "thread_id"}
)

# --- tool span -----------------------------------------------------------------------------------------------------
TOOL_ID_SOURCES: Final = ("gen_ai.tool.call.id", "tool_call.id", "tool.id")
TOOL_NAME_SOURCES: Final = ("gen_ai.tool.name", "tool.name")

# --- status --------------------------------------------------------------------------------------------------------
LANGFUSE_LEVEL = "langfuse.observation.level"
LANGFUSE_STATUS_MESSAGE = "langfuse.observation.status_message"
ERROR_TYPE = "error.type"

# --- attributes normalised inside `attributes` -----------------------------------------------------------------------
TAG_SOURCES: Final = ("tag.tags", "langfuse.trace.tags")
# Whole-JSON metadata; lowest priority first (later ones win on a key clash).
METADATA_SOURCES: Final = ("langfuse.trace.metadata", "metadata", "langfuse.observation.metadata")
MODEL_PARAMETER_JSON_SOURCES: Final = ("llm.invocation_parameters", "langfuse.observation.model.parameters")
MODEL_PARAMETER_KEYS: Final[dict[str, str]] = {
    "gen_ai.request.max_tokens": "max_tokens",
    "gen_ai.request.temperature": "temperature",
    "gen_ai.request.top_p": "top_p",
    "gen_ai.request.top_k": "top_k",
    "gen_ai.request.frequency_penalty": "frequency_penalty",
    "gen_ai.request.presence_penalty": "presence_penalty",
    "gen_ai.request.stop_sequences": "stop_sequences",
    "gen_ai.request.seed": "seed",
    "gen_ai.request.stream": "stream",
    "gen_ai.request.choice.count": "choice_count",
    "llm.frequency_penalty": "frequency_penalty",
    "llm.presence_penalty": "presence_penalty",
    "llm.top_k": "top_k",
    "llm.is_streaming": "stream",
}

GENAI_SPAN_EVENTS: Final = frozenset(
    {
        "gen_ai.content.prompt",
        "gen_ai.content.completion",
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
        "gen_ai.client.inference.operation.details",
    }
)

# Non-scalar keys by the part of the mapping that reads them: the mapping skips a part none of whose keys is present.
SECTION_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "kind": tuple(key for key, _ in KIND_SOURCES),
    "usage": (LANGFUSE_USAGE,),
    "cost": (LANGFUSE_COST,),
    "input": (INPUT_MESSAGES, SYSTEM_INSTRUCTIONS, LEGACY_PROMPT, *INPUT_VALUE_SOURCES, MIME_TYPES["input.value"]),
    "output": (
        OUTPUT_MESSAGES,
        LEGACY_COMPLETION,
        *OUTPUT_VALUE_SOURCES,
        MIME_TYPES["output.value"],
        *FINISH_REASON_SOURCES,
    ),
    "tool": (*TOOL_ID_SOURCES, *TOOL_NAME_SOURCES),
    "status": (LANGFUSE_LEVEL, LANGFUSE_STATUS_MESSAGE, ERROR_TYPE),
    "tags": TAG_SOURCES,
    "metadata": METADATA_SOURCES,
    "parameters": (*MODEL_PARAMETER_JSON_SOURCES, *MODEL_PARAMETER_KEYS),
}
KEY_SECTIONS: Final[dict[str, str]] = {key: section for section, keys in SECTION_KEYS.items() for key in keys}
SCALAR_KEYS: Final = frozenset(
    key for table in (STRING_SOURCES, INT_SOURCES, COST_SOURCES) for sources in table.values() for key in sources
)
# Every exact key the mapping reads. Keys outside this set (and outside FLAT_GROUPS) go straight to `attributes`.
KNOWN_KEYS: Final = SCALAR_KEYS | KEY_SECTIONS.keys()
