"""The HTTP API, one package per audience: `ingest` (data in), `query` (data out), `accounts` (people), `admin` (a
project's administration); the modules at this level are what they share (docs/architecture.md)."""
