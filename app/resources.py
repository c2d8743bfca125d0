"""Finding the files of `resources/`: in a PyInstaller build, an installed wheel or a checkout.

The one place that knows where they are. A build keeps them under `sys._MEIPASS`; a wheel
carries them as the package `app._resources` (setup.py maps the checkout's top-level
`resources/` there); a checkout has them beside `app/`. A shipped file that is not there
means the program's files are incomplete, never that the clerk's input is wrong.
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.errors import ConfigurationError

INCOMPLETE = "程序文件不完整，请重新安装"

_PACKAGE_DIR = Path(__file__).resolve().parent


class ResourcesMissingError(ConfigurationError):
    """A file the program ships is missing: the install is damaged or incomplete."""


def _root() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)  # set by PyInstaller's bootloader
    if frozen_root is not None:
        return Path(frozen_root) / "resources"
    packaged = _PACKAGE_DIR / "_resources"  # an installed wheel
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / "resources"  # a checkout (also an editable install)


def resources_dir() -> Path:
    root = _root()
    if not root.is_dir():
        raise ResourcesMissingError(f"{INCOMPLETE}（缺少程序资源文件夹 resources）。")
    return root


def resource_path(*parts: str) -> Path:
    """A shipped file or folder; ResourcesMissingError when it is not there."""
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise ResourcesMissingError(f"{INCOMPLETE}（缺少 resources/{'/'.join(parts)}）。")
    return path
