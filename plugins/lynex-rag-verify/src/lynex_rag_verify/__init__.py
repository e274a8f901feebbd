"""Lynex Box plugin: check each RAG trace's answer against its retrieved documents and write a score.

`create(config)` is the entry point (`lynex_box.plugins` group, name `rag-verify`): the plugin host calls it with the
`[plugins.rag-verify]` table. On `trace_completed` the plugin reads the trace (`PluginContext.read_trace`), finds its
retrieved documents and its LLM answer (`extract.py`), checks each sentence of the answer against the documents
(`support.py`) and writes one NUMERIC score on the trace (`PluginContext.write_scores`): the supported fraction,
0 to 1, with the unsupported sentences in its comment. Calls arrive on the host's delivery thread for the topic,
so the blocking read and write are fine there; a failure raises and the host counts it.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from lynex_box.plugins.hookspecs import hookimpl
from lynex_rag_verify.extract import rag_parts
from lynex_rag_verify.support import Verdict, verify

__all__ = ["ConfigError", "RagVerify", "Settings", "create", "validate"]

COMMENT_MAX = 10_000  # the score API's limit on a comment
# an event may come before `lynex_started` (traces the WAL replay rebuilt, completing during the start): wait a while
CONTEXT_WAIT_S = 4.0  # under the default [plugins] call_timeout_s
_KEYS = {"threshold", "score_name", "min_documents"}


class ConfigError(ValueError):
    """A bad `[plugins.rag-verify]` table; the message names the key."""


@dataclass(frozen=True, slots=True)
class Settings:
    threshold: float = 0.6  # share of a claim's content words one document must hold
    score_name: str = "rag_support"
    min_documents: int = 1  # traces with fewer retrieved documents are not scored


def validate(config: dict[str, Any]) -> Settings:
    """The plugin's settings from its table, or ConfigError naming the bad key."""
    unknown = sorted(set(config) - _KEYS)
    if unknown:
        raise ConfigError(f"[plugins.rag-verify]: unknown key(s) {unknown}; known keys are {sorted(_KEYS)}")
    s = Settings()
    threshold = config.get("threshold", s.threshold)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise ConfigError(f"[plugins.rag-verify] threshold = {threshold!r} must be a number in (0, 1]")
    name = config.get("score_name", s.score_name)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ConfigError(f"[plugins.rag-verify] score_name = {name!r} must be a non-empty string of 200 characters")
    docs = config.get("min_documents", s.min_documents)
    if isinstance(docs, bool) or not isinstance(docs, int) or not 1 <= docs <= 10_000:
        raise ConfigError(f"[plugins.rag-verify] min_documents = {docs!r} must be an integer in [1, 10000]")
    return Settings(float(threshold), name, docs)


def _comment(verdict: Verdict) -> str:
    if not verdict.unsupported:
        return f"all {verdict.claims} claims supported by the retrieved documents"
    head = f"{len(verdict.unsupported)} of {verdict.claims} claims unsupported:"
    lines = [head, *(f"- {sentence}" for sentence in verdict.unsupported)]
    text = "\n".join(lines)
    return text if len(text) <= COMMENT_MAX else text[: COMMENT_MAX - 1] + "\u2026"


class RagVerify:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context: Any = None
        self._started = threading.Event()

    @hookimpl
    def lynex_started(self, context: Any) -> None:
        if context.read_trace is None or context.write_scores is None:
            raise RuntimeError("this server's PluginContext has no read_trace/write_scores; hint: upgrade lynex-box")
        self.context = context
        self._started.set()

    @hookimpl
    def lynex_trace_completed(self, event: dict[str, Any]) -> None:
        if not self._started.wait(CONTEXT_WAIT_S):
            raise RuntimeError(
                "rag-verify got no PluginContext (lynex_started); hint: run it in-process, not in "
                "[plugins] out_of_process"
            )
        project, trace = event["project_id"], event["trace_id"]
        score = self.score_of(project, trace, self.context.read_trace(project, trace))
        if score is not None:
            self.context.write_scores(project, [score])

    def score_of(self, project_id: str, trace_id: str, spans: Any) -> dict[str, Any] | None:
        """The score object for a trace's spans, or None when it is not a RAG trace (too few documents, no answer,
        no sentence that makes a claim)."""
        s = self.settings
        documents, answer, answer_span = rag_parts(spans)
        if len(documents) < s.min_documents or not answer.strip():
            return None
        verdict = verify(answer, documents, s.threshold)
        if not verdict.claims:
            return None
        # one id per trace and score name: a second event for the trace (late spans, a replay) replaces the score
        digest = hashlib.sha256(f"{project_id}\0{trace_id}\0{s.score_name}".encode()).hexdigest()[:32]
        return {
            "id": f"rag-verify-{digest}",
            "trace_id": trace_id,
            "name": s.score_name,
            "value": round(verdict.fraction, 4),
            "data_type": "NUMERIC",
            "source": "EVAL",
            "comment": _comment(verdict),
            "metadata": {
                "claims": verdict.claims,
                "supported": verdict.supported,
                "documents": len(documents),
                "threshold": s.threshold,
                "answer_span_id": answer_span,
            },
        }


def create(config: dict[str, Any]) -> RagVerify:
    """The plugin object for the `[plugins.rag-verify]` table."""
    return RagVerify(validate(config))
