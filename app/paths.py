"""Where the counter keeps its configuration, data, logs and backups.

Normally the platform's own folders (platformdirs): on Windows under %APPDATA% /
%LOCALAPPDATA%, on Linux under ~/.config, ~/.local/share, ~/.local/state.
`WI_COUNTER_HOME` (or `--home`) puts all of them under one folder, which is how
tests, training rooms and portable installs run. Demo mode always uses a folder of
its own, so demo data never mixes with a site's real data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from app.private_files import private_dirs

APP_NAME = "wi-counter"
HOME_ENV = "WI_COUNTER_HOME"


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    backup_dir: Path
    demo: bool = False
    root: Path | None = None  # the one folder holding the others (WI_COUNTER_HOME, --home, demo)

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.toml"

    @property
    def default_database_file(self) -> Path:
        return self.data_dir / "wi-counter.sqlite3"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "wi-counter.log"

    def create(self) -> None:
        """Create the folders, readable by the user only (patients' data lives here), whatever the umask;
        the home folder too, so no other user can swap `config/` (it would hold their settings)."""
        if self.root is not None:
            private_dirs(self.root, existing="unwritable")
        for folder in (self.config_dir, self.data_dir, self.log_dir, self.backup_dir):
            private_dirs(folder)


def _under(root: Path, demo: bool) -> AppPaths:
    return AppPaths(
        config_dir=root / "config",
        data_dir=root / "data",
        log_dir=root / "logs",
        backup_dir=root / "backups",
        demo=demo,
        root=root,
    )


def resolve_paths(home: Path | None = None, demo: bool = False) -> AppPaths:
    """The folders for this run: `home` first, then `WI_COUNTER_HOME`, then the platform's."""
    root = home if home is not None else (Path(os.environ[HOME_ENV]) if os.environ.get(HOME_ENV) else None)
    if demo:
        base = root if root is not None else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
        return _under(base / "demo", demo=True)
    if root is not None:
        return _under(root, demo=False)
    return AppPaths(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        backup_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "backups",
        demo=False,
    )
