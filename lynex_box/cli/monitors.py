"""`lynex-box monitors list|create|run|delete`: synthetic monitors, through the running server's API.

Unlike the meta.db commands, these talk to the running server (`--url`, default `[server] public_url`, else
`http://<host>:<port>` of the config) with an admin API key of the project (`--api-key`, or `$LYNEX_API_KEY`): a
run needs the server's WAL, and creating a monitor needs its alerts sealing key and its outbound address policy.
The API's JSON error ends the command with its message.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click
import httpx
from rich.table import Table

from lynex_box.cli.common import data_dir_options, emit_json, emit_table, server_url, settings_for


def _client(config: str | None, data_dir: str | None, server: str | None, key: str | None) -> httpx.Client:
    if not key:
        raise click.ClickException("an admin API key of the project is needed: --api-key or $LYNEX_API_KEY")
    if server is None:
        server = server_url(settings_for(config, data_dir, existing=False))
    return httpx.Client(base_url=server.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=120)


def _call(client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
    try:
        r = client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the server at {client.base_url}: {exc}") from None
    if r.status_code == 204:
        return None
    try:
        doc = r.json()
    except ValueError:
        raise click.ClickException(f"HTTP {r.status_code} from {path}: {r.text[:200]}") from None
    if r.is_error:
        error = doc.get("error", {}) if isinstance(doc, dict) else {}
        raise click.ClickException(f"HTTP {r.status_code} {error.get('code', '')}: {error.get('message', r.text)}")
    return doc


def _server_options(command: Any) -> Any:
    key_help = "an admin API key of the project ($LYNEX_API_KEY)"
    command = click.option("--api-key", "key", envvar="LYNEX_API_KEY", help=key_help)(command)
    server_help = "the running server (default: [server] public_url, else http://host:port of the config)"
    command = click.option("--url", "server", help=server_help)(command)
    return click.option("--project", "project_id", required=True)(command)


@click.group()
def monitors() -> None:
    """Synthetic monitors of a project (through the running server's API)."""


@monitors.command("list")
@_server_options
@data_dir_options()
def monitors_list(project_id: str, server: str | None, key: str | None, config: str | None, data_dir: str | None,
                  as_json: bool) -> None:  # fmt: skip
    with _client(config, data_dir, server, key) as client:
        items = _call(client, "GET", f"/api/projects/{project_id}/monitors")["items"]
    table = Table("id", "name", "target", "every", "last run", "ok")
    for m in items:
        last = m["last_run"] or {}
        target = m["target"].get("url") or m["target"].get("model", "")
        ok = "" if not last else ("yes" if last["ok"] else "NO")
        every = m["cron"] or f"{m['interval_s']} s"
        table.add_row(m["id"], m["name"], target, every, str(last.get("started_at", "")), ok)
    emit_table(as_json, items, table)


def _assertions(raw: tuple[str, ...]) -> list[Any]:
    try:
        return [json.loads(a) for a in raw]
    except json.JSONDecodeError as exc:
        example = '{"type": "status", "equals": 200}'
        raise click.ClickException(f"--assert takes a JSON object, e.g. '{example}': {exc}") from None


@monitors.command("create")
@click.option("--name", required=True)
@click.option("--http-url", "target_url", help="an HTTP endpoint of your app to check")
@click.option("--method", default="GET", show_default=True)
@click.option("--body", help="the request body (template: {{run_id}}, {{monitor_id}}, {{timestamp}})")
@click.option("--base-url", help="an OpenAI-compatible API's base URL (a model monitor)")
@click.option("--model", help="the model to ask (a model monitor)")
@click.option("--api-key-env", help="the environment variable holding the model API's key")
@click.option("--prompt", help="the user message sent to the model (template)")
@click.option("--interval", "interval_s", type=int, help="seconds between runs")
@click.option("--cron", help="a five-field cron expression (UTC) instead of an interval")
@click.option("--timeout", "timeout_s", type=float)
@click.option("--assert", "asserts", multiple=True, help="an assertion as JSON (repeatable)")
@click.option("--alert-webhook", help="create an alert rule on failures that notifies this webhook")
@click.option("--alert-latency-ms", type=float, help="also alert when the latency exceeds this")
@_server_options
@data_dir_options()
def monitors_create(
    name: str, target_url: str | None, method: str, body: str | None, base_url: str | None, model: str | None,
    api_key_env: str | None, prompt: str | None, interval_s: int | None, cron: str | None, timeout_s: float | None,
    asserts: tuple[str, ...], alert_webhook: str | None, alert_latency_ms: float | None, project_id: str,
    server: str | None, key: str | None, config: str | None, data_dir: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Create a monitor of an HTTP endpoint (--http-url) or of a model (--base-url, --model, --prompt)."""
    if bool(target_url) == bool(base_url):
        raise click.ClickException("give either --http-url (an HTTP endpoint) or --base-url with --model (a model)")
    target: dict[str, Any]
    if target_url:
        target = {"type": "http", "method": method.upper(), "url": target_url, "body": body}
    else:
        if not model or not prompt:
            raise click.ClickException("a model monitor needs --model and --prompt")
        target = {"type": "model", "base_url": base_url, "model": model,
                  "messages": [{"role": "user", "content": prompt}]}  # fmt: skip
        if api_key_env:
            target["api_key"] = os.environ.get(api_key_env) or None
    doc: dict[str, Any] = {"name": name, "target": target, "assertions": _assertions(asserts)}
    optional = {"interval_s": interval_s, "cron": cron, "timeout_s": timeout_s}
    doc |= {k: v for k, v in optional.items() if v is not None}
    if alert_webhook or alert_latency_ms:
        channels = [{"type": "webhook", "url": alert_webhook}] if alert_webhook else []
        doc["alert"] = {"on_failure": True, "latency_ms": alert_latency_ms, "channels": channels}
    with _client(config, data_dir, server, key) as client:
        created = _call(client, "POST", f"/api/projects/{project_id}/monitors", json=doc)
    emit_json(created, pretty=not as_json)


@monitors.command("run")
@click.argument("monitor_id")
@_server_options
@data_dir_options()
def monitors_run(monitor_id: str, project_id: str, server: str | None, key: str | None, config: str | None,
                 data_dir: str | None, as_json: bool) -> None:  # fmt: skip
    """Run a monitor now; exits 1 when the run fails."""
    with _client(config, data_dir, server, key) as client:
        run = _call(client, "POST", f"/api/projects/{project_id}/monitors/{monitor_id}/run")
    emit_json(run, pretty=not as_json)
    if not run["ok"]:
        raise SystemExit(1)


@monitors.command("delete")
@click.argument("monitor_id")
@_server_options
@data_dir_options()
def monitors_delete(monitor_id: str, project_id: str, server: str | None, key: str | None, config: str | None,
                    data_dir: str | None, as_json: bool) -> None:  # fmt: skip
    """Delete a monitor with its runs and its linked alert rules."""
    with _client(config, data_dir, server, key) as client:
        _call(client, "DELETE", f"/api/projects/{project_id}/monitors/{monitor_id}")
    emit_json({"deleted": monitor_id})
