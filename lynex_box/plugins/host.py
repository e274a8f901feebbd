"""The plugin host: discovers plugins, registers the enabled ones with pluggy, and delivers topics to them.

Discovery: every Python entry point of the group `lynex_box.plugins` is listed; those named in `[plugins] enabled`
are loaded, and so are the built-in channel plugins `[plugins] builtin_channels` names (plugins/lynex-channels)
and the built-in detectors `[plugins] builtin_detectors` names (plugins/lynex-detectors), both shipped in
lynex-box's wheel, without being listed there. An entry point names either a plugin object (a module
or instance with `@hookimpl` functions) or a callable that takes the plugin's table `[plugins.<name>]` (a dict) and
returns one. A plugin that fails to load,
to configure or to validate against hookspecs.py is logged and reported by `status()` (GET /v1/plugins) with its
error; the start goes on without it. An enabled name no entry point has is reported as `missing`.

Channels: `channel_types()` collects the notification channel types loaded plugins declare
(`lynex_notification_channels()`); app.py hands them to the alerts feature, the only types its rules may use.

Delivery: `emit(topic, event)` offers the event to one `Subscriber` per plugin implementing the topic's hook
(subscriber.py): the caller never waits for a plugin. A plugin loaded *per project* (`[plugins] per_project`, or
`lynex_per_project = True` on the plugin object) is offered only the events of the projects that turned it on, each
as a shallow copy of the event with that project's configuration added as `config` (the event itself is shared
between subscribers and never changed); `set_projects` replaces that map (app.py loads it from meta.db's
`project_plugins` at start, after a write and after the cluster's metadata log is applied). A plugin may declare the
keys of its per-project configuration that are secret (`lynex_secret_keys`): the API never shows their values.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
import types
from dataclasses import dataclass, field
from typing import Any

import pluggy

from lynex_box.config import PluginsSettings
from lynex_box.plugins import hookspecs
from lynex_box.plugins.channels import ChannelType
from lynex_box.plugins.context import PluginContext
from lynex_box.plugins.events import TOPICS
from lynex_box.plugins.spanhooks import DETECT_HOOK, ENRICH_HOOK, SpanHooks
from lynex_box.plugins.subscriber import Limits, Subscriber
from lynex_box.plugins.worker import WorkerPlugin

log = logging.getLogger("lynex.plugins")
GROUP = "lynex_box.plugins"
CLOSE_WAIT_S = 2.0  # how long a stop waits, in all, for the delivery threads' current calls
WORKER_GRACE_S = 5.0  # an out-of-process call times itself out; this covers a restart's spawn on top
_TOPIC_HOOKS = {hook: topic for topic, hook in TOPICS.items()}


@dataclass(slots=True)
class PluginRecord:
    name: str
    state: str  # "loaded", "failed", "missing" or "disabled" (installed, not in `enabled`)
    source: str = ""  # the entry point's value and its distribution
    error: str = ""
    hooks: list[str] = field(default_factory=list)
    worker: WorkerPlugin | None = None  # out-of-process plugins ([plugins] out_of_process)
    per_project: bool = False  # receives only the events of projects that turned it on
    secret_keys: tuple[str, ...] = ()  # keys of its per-project configuration whose values are secret


class PluginHost:
    """The `Events` app.py hands the components; `close()` stops every delivery thread."""

    def __init__(self, settings: PluginsSettings) -> None:
        self.settings = settings
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._per_project: set[str] = set()  # names of the loaded per-project plugins
        self._projects: dict[str, dict[str, dict[str, Any]]] = {}  # plugin -> project id -> its configuration
        self.span_hooks = SpanHooks()  # the pipeline hooks of in-process plugins (spanhooks.py)
        self._limits = Limits(
            queue_size=settings.queue_size,
            timeout_s=settings.call_timeout_s,
            rate_per_s=settings.rate_per_s,
            rate_burst=settings.rate_burst,
            max_stuck=settings.max_stuck_calls,
        )

    @classmethod
    def start(cls, settings: PluginsSettings) -> PluginHost:
        host = cls(settings)
        host.load(importlib.metadata.entry_points(group=GROUP))
        return host

    def load(self, found: importlib.metadata.EntryPoints) -> None:
        enabled = (
            set(self.settings.enabled) | set(self.settings.builtin_channels) | set(self.settings.builtin_detectors)
        )
        seen: set[str] = set()
        for ep in found:
            if ep.name in seen:
                continue
            seen.add(ep.name)
            dist = f" ({ep.dist.name} {ep.dist.version})" if ep.dist is not None else ""
            record = PluginRecord(ep.name, "disabled", source=f"{ep.value}{dist}")
            record.per_project = ep.name in self.settings.per_project
            self.records[ep.name] = record
            if ep.name in enabled:
                self._load_one(record, ep)
        for name in sorted(enabled - seen):
            error = f"no installed package declares the entry point {name!r} in the group {GROUP!r}"
            self.records[name] = PluginRecord(
                name, "missing", error=error, per_project=name in self.settings.per_project
            )
            log.error(
                "plugin %s not loaded: %s; hint: pip install it, or remove it from [plugins] enabled", name, error
            )
        self.span_hooks.order((*self.settings.builtin_detectors, *self.settings.enabled))

    def _load_one(self, record: PluginRecord, ep: importlib.metadata.EntryPoint) -> None:
        if record.name in self.settings.out_of_process:
            self._load_worker(record, ep)
            return
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, types.ModuleType):
                obj = obj(dict(self.settings.configs.get(record.name, {})))
            self.pm.register(obj, name=record.name)
        except Exception as exc:  # a plugin that cannot load is reported; the start goes on
            self._fail(record, f"{type(exc).__name__}: {exc}")
            return
        unknown = [h.name for h in self.pm.get_hookcallers(obj) or [] if h.spec is None]
        if unknown:
            self.pm.unregister(obj)
            self._fail(record, f"implements hooks hookspecs.py does not declare: {sorted(unknown)}")
            return
        try:
            self._take_pipeline_hooks(record.name, obj)
        except Exception as exc:  # its detectors could not be listed: the plugin is not half loaded
            self.span_hooks.forget(record.name)
            self.pm.unregister(obj)
            self._fail(record, f"{DETECT_HOOK} raised {type(exc).__name__}: {exc}")
            return
        record.state = "loaded"
        record.hooks = sorted(h.name for h in self.pm.get_hookcallers(obj) or [])
        record.per_project = record.per_project or getattr(obj, "lynex_per_project", False) is True
        record.secret_keys = tuple(str(k) for k in getattr(obj, "lynex_secret_keys", ()) or ())
        if record.per_project:
            self._per_project.add(record.name)
        for caller in self.pm.get_hookcallers(obj) or []:
            topic = _TOPIC_HOOKS.get(caller.name)
            if topic is None:
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is obj:
                    sub = Subscriber(record.name, caller.name, impl.function, self._limits)
                    self._subscribers.setdefault(topic, []).append(sub)
        log.info("plugin loaded name=%s hooks=%s", record.name, record.hooks)

    def _take_pipeline_hooks(self, name: str, obj: object) -> None:
        """The plugin's `lynex_enrich_spans` and the detectors its `lynex_detectors()` lists, for the pipeline."""
        for impl in self.pm.hook.lynex_enrich_spans.get_hookimpls():
            if impl.plugin is obj:
                self.span_hooks.add_enricher(name, impl.function)
        for impl in self.pm.hook.lynex_detectors.get_hookimpls():
            if impl.plugin is obj:
                self.span_hooks.add_detectors(name, impl.function())

    def _load_worker(self, record: PluginRecord, ep: importlib.metadata.EntryPoint) -> None:
        s = self.settings
        config = dict(s.configs.get(record.name, {}))
        worker = WorkerPlugin(record.name, ep.value, config, s.restart_backoff_s, s.restart_backoff_max_s)
        try:
            hooks = worker.start()
        except Exception as exc:  # its own error, sent by the worker, or why it did not start
            worker.close()
            self._fail(record, str(exc))
            return
        record.state, record.hooks, record.worker = "loaded", hooks, worker
        if record.per_project:
            self._per_project.add(record.name)
        if {ENRICH_HOOK, DETECT_HOOK} & set(hooks):
            log.warning("plugin %s runs out of process: its pipeline hooks are not called; hint: pipeline hooks are "
                        "for in-process (first-party) plugins", record.name)  # fmt: skip
        for hook in hooks:
            topic = _TOPIC_HOOKS.get(hook)
            if topic is not None:
                fn = _worker_call(worker, hook, s.call_timeout_s)
                sub = Subscriber(record.name, hook, fn, self._limits, grace_s=WORKER_GRACE_S)
                self._subscribers.setdefault(topic, []).append(sub)
        log.info("plugin loaded out of process name=%s pid=%s hooks=%s", record.name, worker.pid, hooks)

    def _fail(self, record: PluginRecord, error: str) -> None:
        record.state, record.error = "failed", error[:1000]
        log.error("plugin %s failed to load: %s; hint: see its README, or remove it from [plugins] enabled",
                  record.name, record.error)  # fmt: skip

    def started(self, context: PluginContext) -> None:
        """Hand each loaded in-process plugin its context (`lynex_started`); one that raises is reported (state
        `failed`, its error) and unregistered, so it gets no more topics; the others go on."""
        for impl in self.pm.hook.lynex_started.get_hookimpls():
            record = self.records[impl.plugin_name]
            try:
                impl.function(context=context.for_plugin(record.name))
            except Exception as exc:  # one plugin's failed start is its own
                self._unsubscribe(record.name)
                self.span_hooks.forget(record.name)
                self.pm.unregister(name=record.name)
                self._fail(record, f"lynex_started raised {type(exc).__name__}: {exc}")

    def channel_types(self) -> dict[str, Any]:
        """The notification channel types of the loaded in-process plugins, by name (the first plugin to declare a
        name keeps it; a later one is logged and its type ignored). A type without the interface's attributes
        (lynex_box/plugins/channels.py) is reported as its plugin's error and ignored."""
        out: dict[str, Any] = {}
        for impl in self.pm.hook.lynex_notification_channels.get_hookimpls():
            record = self.records[impl.plugin_name]
            try:
                returned: Any = impl.function()
                declared = list(returned or [])
            except Exception as exc:  # one plugin's broken declaration is its own
                record.error = f"lynex_notification_channels raised {type(exc).__name__}: {exc}"[:1000]
                log.error("plugin %s: %s", record.name, record.error)
                continue
            for kind in declared:
                name = getattr(kind, "name", None)
                if not isinstance(kind, ChannelType) or not isinstance(name, str) or not name:
                    record.error = f"a notification channel type lacks the interface: {kind!r}"[:1000]
                    log.error(
                        "plugin %s: %s; hint: see docs/plugins.md, Notification channels", record.name, record.error
                    )
                elif name in out:
                    log.error(
                        "plugin %s: channel type %r is declared by another plugin already; ignored", record.name, name
                    )
                else:
                    out[name] = kind
        return out

    def _unsubscribe(self, plugin: str) -> None:
        for topic, subs in self._subscribers.items():
            for sub in subs:
                if sub.plugin == plugin:
                    sub.stop()
            self._subscribers[topic] = [sub for sub in subs if sub.plugin != plugin]

    def set_projects(self, projects: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Replace the per-project map (plugin -> project id -> configuration) in one assignment: a concurrent
        `emit` sees the old map or the new one."""
        self._projects = projects

    def emit(self, topic: str, event: dict[str, Any]) -> None:
        projects = self._projects
        for sub in self._subscribers.get(topic, ()):
            if sub.plugin not in self._per_project:
                sub.offer(event)
                continue
            config = projects.get(sub.plugin, {}).get(event.get("project_id"))  # type: ignore[arg-type]
            if config is not None:
                sub.offer({**event, "config": config})

    def wants(self, topic: str) -> bool:
        projects = self._projects
        return any(sub.plugin not in self._per_project or projects.get(sub.plugin)
                   for sub in self._subscribers.get(topic, ()))  # fmt: skip

    def project_status(self, project_id: str) -> list[dict[str, Any]]:
        """Every plugin `[plugins] enabled` names (loaded, failed or missing), with the counters of this project's
        events alone: what a project's members may see (never another project's counts or errors)."""
        subs: dict[str, list[dict[str, Any]]] = {}
        for topic_subs in self._subscribers.values():
            for sub in topic_subs:
                subs.setdefault(sub.plugin, []).append(sub.project_status(project_id))
        out = []
        for name in sorted(self.records):
            r = self.records[name]
            if r.state == "disabled":
                continue
            topics = sorted(subs.get(name, []), key=lambda s: str(s["hook"]))
            totals = {k: sum(int(s[k]) for s in topics) for k in ("delivered", "errors", "timeouts", "dropped")}
            last_error = next((s["last_error"] for s in topics if s["last_error"]), "")
            out.append({"name": name, "state": r.state, "error": r.error, "hooks": r.hooks,
                        "per_project": r.per_project, "secret_keys": list(r.secret_keys), **totals,
                        "last_error": last_error, "subscriptions": topics})  # fmt: skip
        return out

    def status(self) -> list[dict[str, Any]]:
        """Every plugin known (loaded, failed, missing, installed but disabled), with its subscriptions' counters."""
        subs: dict[str, list[dict[str, Any]]] = {}
        for topic_subs in self._subscribers.values():
            for sub in topic_subs:
                subs.setdefault(sub.plugin, []).append(sub.status())
        pipeline = self.span_hooks.status()
        out = []
        for name in sorted(self.records):
            r = self.records[name]
            topics = sorted(subs.get(name, []), key=lambda s: str(s["hook"]))
            totals = {k: sum(int(s[k]) for s in topics) for k in ("delivered", "errors", "timeouts", "dropped")}
            hooks_run = sorted(pipeline.get(name, []), key=lambda s: str(s["hook"]))
            totals["errors"] += sum(int(h["errors"]) for h in hooks_run)
            process = {"pid": r.worker.pid, "restarts": r.worker.restarts} if r.worker is not None else None
            own = self._own_counters(name) if r.state == "loaded" and r.worker is None else None
            out.append({"name": name, "state": r.state, "source": r.source, "error": r.error, "hooks": r.hooks,
                        "per_project": r.per_project,
                        "isolation": "process" if name in self.settings.out_of_process else "thread",
                        "process": process, **totals, "subscriptions": topics, "counters": own,
                        "pipeline": hooks_run})  # fmt: skip
        return out

    def _own_counters(self, name: str) -> dict[str, Any] | None:
        """What an in-process plugin counts itself (`counters()` on its object: a batching plugin's sent, failed,
        dropped); None when it has no such method or it raises."""
        counters = getattr(self.pm.get_plugin(name), "counters", None)
        if not callable(counters):
            return None
        try:
            return dict(counters())
        except Exception as exc:  # a plugin's own counters must never break the status
            return {"error": f"{type(exc).__name__}: {exc}"[:200]}

    def close(self) -> None:
        """Stop every subscription (queued events are dropped), then wait at most CLOSE_WAIT_S in all."""
        subs = [sub for topic_subs in self._subscribers.values() for sub in topic_subs]
        for sub in subs:
            sub.stop()
        deadline = time.monotonic() + CLOSE_WAIT_S
        for sub in subs:
            sub.join(deadline - time.monotonic())
        self._subscribers.clear()
        for record in self.records.values():
            if record.worker is not None:
                record.worker.close()


def declaration(settings: PluginsSettings, name: str) -> tuple[bool, tuple[str, ...]] | None:
    """(per project, its secret keys) of the plugin `name` as the host would load it (its entry point loaded and,
    for a factory, called with its table), for a process that runs no host (the CLI); None when `[plugins] enabled`
    does not name it or no installed package declares it. A plugin that fails to load raises its error."""
    if name not in settings.enabled:
        return None
    if name in settings.out_of_process:  # its code runs only in a worker: the settings alone say
        return name in settings.per_project, ()
    ep = next((ep for ep in importlib.metadata.entry_points(group=GROUP) if ep.name == name), None)
    if ep is None:
        return None
    obj = ep.load()
    if callable(obj) and not isinstance(obj, types.ModuleType):
        obj = obj(dict(settings.configs.get(name, {})))
    per_project = name in settings.per_project or getattr(obj, "lynex_per_project", False) is True
    return per_project, tuple(str(k) for k in getattr(obj, "lynex_secret_keys", ()) or ())


def _worker_call(worker: WorkerPlugin, hook: str, timeout_s: float) -> Any:
    def call(event: dict[str, Any]) -> None:
        worker.call(hook, event, timeout_s)

    return call
