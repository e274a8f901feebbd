"""Lynex Box SDK: record LLM calls and the work around them, and deliver them to a Lynex Box server.

    import lynex
    lx = lynex.Lynex()                      # LYNEX_API_KEY, LYNEX_BASE_URL, LYNEX_PROJECT
    client = lynex.wrap_openai(openai.OpenAI())

    @lynex.observe
    def answer(question: str) -> str: ...

See sdks/python/README.md for the reference.
"""

from lynex._client import Lynex, get_client
from lynex._errors import ConfigError, EventsDropped, EventsRejected, InvalidEvent, LynexError
from lynex._observe import observe
from lynex._schema import validate_event
from lynex._tracing import Span, current_span
from lynex._version import __version__
from lynex.integrations.anthropic import wrap_anthropic
from lynex.integrations.openai import wrap_openai

__all__ = [
    "ConfigError",
    "EventsDropped",
    "EventsRejected",
    "InvalidEvent",
    "Lynex",
    "LynexError",
    "Span",
    "__version__",
    "current_span",
    "get_client",
    "observe",
    "validate_event",
    "wrap_anthropic",
    "wrap_openai",
]
