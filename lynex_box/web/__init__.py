"""The bundled web UI: React source in `ui/`, its committed build in `static/`, served by `routes`."""
