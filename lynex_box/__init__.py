"""Lynex Box: a self-hosted observability appliance for LLM applications."""

__version__ = "0.1.0"
