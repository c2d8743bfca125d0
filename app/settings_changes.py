"""Changing the counter's settings: an administrator's action, enforced here and not only in the window.

The settings file belongs to the OS user the program runs as; `wi-counter settings set` is
IT's tool at the machine. In the window, where operators log in, only
`Permission.CHANGE_SETTINGS` (administrators) may write it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.operators import OperatorInfo, Permission, require
from app.settings import Settings, setting_by_key

log = logging.getLogger(__name__)


def save_setting_changes(path: Path, changes: Mapping[str, Any], actor: OperatorInfo) -> None:
    """Write `changes` (key → value) into the settings file, keeping keys this version does not know."""
    require(actor, Permission.CHANGE_SETTINGS)
    # Re-read the file: keys a newer version wrote survive, and a bad value fails before anything is written.
    on_disk = Settings.load(path)
    for key, value in changes.items():
        on_disk.set(setting_by_key(key), value)
    on_disk.save()
    log.info("操作员 %s 修改了设置：%s", actor.login, "、".join(sorted(changes)))
