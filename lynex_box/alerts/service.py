"""The alerts component app.py builds: the sealing key, the deliverer and the evaluator, started (`start`) and
stopped (`close`) with the app. Its one scheduled job, the evaluator's `tick`, is declared by `jobs()`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lynex_box.alerts import history, targets
from lynex_box.alerts.clusterkey import ClusterKey, ClusterSealing
from lynex_box.alerts.delivery import Deliverer, MailSender
from lynex_box.alerts.evaluator import Evaluator
from lynex_box.alerts.rules import RuleLimits, channel_urls
from lynex_box.alerts.sealing import DEFAULT_KEY_FILE, SecretBox
from lynex_box.alerts.shared import SharedAlerts, SharedState
from lynex_box.alerts.targets import TargetPolicy
from lynex_box.config import Settings
from lynex_box.jobs import Job
from lynex_box.meta.db import MetaDB
from lynex_box.plugins.channels import ChannelType
from lynex_box.plugins.events import NO_EVENTS, Events
from lynex_box.query.engine import QueryEngine


@dataclass(slots=True)
class AlertService:
    settings: Settings
    db: MetaDB
    box: SecretBox
    limits: RuleLimits
    deliverer: Deliverer
    evaluator: Evaluator
    sealing: ClusterSealing | None = None

    @classmethod
    async def start(
        cls,
        settings: Settings,
        db: MetaDB,
        query: QueryEngine,
        mailer: MailSender | None = None,
        sender: str = "",
        shared: SharedState | None = None,
        cluster_key: ClusterKey | None = None,
        events: Events = NO_EVENTS,
        channels: Mapping[str, ChannelType] | None = None,
    ) -> AlertService:
        """Open (or create) the sealing key and fail deliveries a previous process left pending.

        `mailer` (with the `sender` address) is the `[smtp]` mailer when email is on; without it, rules cannot
        have email channels. `shared` (cluster mode) is the rules' state in the bucket under the `alerts` lease;
        `cluster_key` (cluster mode) makes the sealing key the one the cluster's metadata carries (`clusterkey.py`).
        `events` gets `alert_fired` / `alert_resolved` as notifications are dispatched (lynex_box/plugins/).
        `channels` are the notification channel types by name, from the plugin host (`PluginHost.channel_types`):
        the only types rules may use.
        """
        a = settings.alerts
        policy = TargetPolicy.from_settings(a)  # a ConfigError for a bad allowed_target_networks stops the start
        key_file = Path(a.secrets_key_file) if a.secrets_key_file else settings.data_dir / DEFAULT_KEY_FILE
        box = await asyncio.to_thread(SecretBox.from_file, key_file)
        sealing = None
        if cluster_key is not None:
            explicit = bool(a.secrets_key_file)
            sealing = ClusterSealing(db, box, cluster_key.kek, explicit, cluster_key.may_publish)
            await asyncio.to_thread(sealing.start)
        await asyncio.to_thread(db.write, history.fail_interrupted)
        limits = RuleLimits(
            min_interval_s=a.min_interval_s,
            default_interval_s=a.default_interval_s,
            max_window_s=a.max_window_s,
            email_enabled=mailer is not None,
            targets=policy,
            channels=dict(channels or {}),
        )
        deliverer = Deliverer(db, box, a, mailer, sender, policy, events=events, channels=limits.channels)
        base = settings.server.public_url.rstrip("/")

        def link(rule_id: str) -> str:
            return f"{base}/ui/alerts?rule={rule_id}" if base else ""

        together = SharedAlerts(shared, db, deliverer, link) if shared is not None else None
        evaluator = Evaluator(db, query, deliverer, a, link, together)
        return cls(settings, db, box, limits, deliverer, evaluator, sealing)

    def refresh_key(self) -> None:
        """Cluster mode: the metadata log changed `instance_settings`; use the cluster's key if it changed.
        Blocking."""
        if self.sealing is not None:
            self.sealing.refresh()

    async def refused_targets(self, doc: dict[str, Any]) -> list[str]:
        """Why the channel URLs of a rule body must not be saved: hosts that resolve to refused addresses."""
        urls = channel_urls(doc, self.limits.channels)
        return await targets.check_names(urls, self.limits.targets, self.deliverer.resolve)

    def channel_types(self) -> list[dict[str, Any]]:
        """The channel types rules may use, as `GET .../alerts/channel-types` lists them for the UI and CLI."""
        out = []
        for name in sorted(self.limits.channels):
            kind = self.limits.channels[name]
            needs_mailer = bool(getattr(kind, "needs_mailer", False))
            out.append({
                "type": name, "label": str(getattr(kind, "label", name)),
                "available": self.limits.email_enabled or not needs_mailer,
                "fields": list(getattr(kind, "form", ())),
            })  # fmt: skip
        return out

    def link(self, rule_id: str) -> str:
        return self.evaluator.link(rule_id)

    def jobs(self) -> list[Job]:
        """One job finds the rules whose interval has passed; their queries run in threads, deliveries in tasks."""
        a = self.settings.alerts
        return [Job("alerts", self.evaluator.tick, a.tick_s)] if a.enabled else []

    async def close(self) -> None:
        await self.deliverer.close()
