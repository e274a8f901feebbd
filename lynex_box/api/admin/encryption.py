"""The API side of per-project encryption at rest: the `encryption` project setting (`api/unavailable.py` answers
for a locked project).

A project's settings show `encryption: {enabled, key_available, error}`; `PATCH .../settings {"encryption": true}`
turns it on (admins only, audited, one-way: its encrypted segments need the key for as long as they exist). When
the key-encryption key is missing or is another one, an encrypted project's queries and ingest answer `503
encryption_key_unavailable` with what to do, and every other project is unaffected.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lynex_box.api.errors import ApiError
from lynex_box.api.services import Services
from lynex_box.meta.audit import Actor
from lynex_box.segments.keywrap import KekError


def status(svc: Services, project_id: str) -> dict[str, Any]:
    return svc.data_keys.status(project_id)


async def apply_setting(svc: Services, project_id: str, actor: Actor, value: Any) -> None:
    """`encryption: true` enables it (a no-op when on); `false` is refused once it is on."""
    if not isinstance(value, bool):
        raise ApiError(400, "bad_setting", "encryption must be true or false")
    enabled = svc.data_keys.status(project_id)["enabled"]
    if not value:
        if enabled:
            raise ApiError(
                409,
                "encryption_irreversible",
                "encryption cannot be turned off: the project's encrypted segments need their key for as long as "
                "they exist; hint: export the data and import it into a new project to keep it unencrypted",
            )
        return
    if enabled:
        return
    try:
        await asyncio.to_thread(svc.data_keys.enable, project_id, actor)
    except KekError as exc:
        raise ApiError(409, "encryption_key_unavailable", str(exc)) from None
