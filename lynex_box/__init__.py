"""Lynex Box: a self-hosted observability appliance for LLM applications."""

__version__ = "0.1.0"

# The HTTP API's major version, served at `GET /v1/version`: an SDK warns once when its own differs. It changes only
# when an existing route stops answering as documented (docs/api.md); new routes and fields leave it as it is.
API_VERSION = "1"
