"""Wrappers that record the calls of LLM provider clients (OpenAI, Anthropic)."""
