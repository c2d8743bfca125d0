"""Changing the counter's settings: an administrator's action, enforced here and not only in the window.

The settings file belongs to the OS user the program runs as; `wi-counter settings set` is
IT's tool at the machine. In the window, where operators log in, only
`Permission.CHANGE_SETTINGS` (administrators) may write it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app import audit

from app.operators import OperatorInfo, Permission, require
from app.settings import Settings, setting_by_key

log = logging.getLogger(__name__)


class SettingsHome(Protocol):
    """Where the settings live and where their changes are audited (a CounterContext)."""

    settings: Settings

    @property
    def counter_name(self) -> str: ...

    def transaction(self) -> AbstractContextManager[Session]: ...


def save_setting_changes(home: SettingsHome, changes: Mapping[str, Any], actor: OperatorInfo) -> None:
    """Write `changes` (key → value) into the settings file, keeping keys this version does not know,
    with one audit event per changed key (who, from, to) in the same unit of work: the file is written
    inside the transaction, so a failed write leaves no event and a failed audit no change."""
    require(actor, Permission.CHANGE_SETTINGS)
    path: Path = home.settings.path
    # Re-read the file: keys a newer version wrote survive, and a bad value fails before anything is written.
    on_disk = Settings.load(path)
    changed: list[tuple[str, Any, Any]] = []
    for key, value in changes.items():
        spec = setting_by_key(key)
        before = on_disk.get(spec)
        on_disk.set(spec, value)
        if on_disk.get(spec) != before:
            changed.append((key, before, on_disk.get(spec)))
    with home.transaction() as session:
        for key, before, after in changed:
            audit.record(session, "setting_changed", operator_id=actor.id, counter_name=home.counter_name,
                         entity_type="setting", entity_id=key, detail={"key": key, "from": before, "to": after})
        on_disk.save()
    log.info("操作员 %s 修改了设置：%s", actor.login, "、".join(sorted(changes)))
