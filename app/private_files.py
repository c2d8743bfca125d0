"""Files and folders readable by this user only, whatever the umask; written without following symlinks.

Patients' data lives in what the program writes (slips, exports, the database, logs). `mkdir(mode=0o700)`
applies to the last folder only, and the umask applies to what `open()` creates: under umask 000 the
home folder was 0777 (another OS user could swap `config/` and make the counter load their library)
and `slip --out` wrote 0666. A fixed temporary name beside the target (`.OUT.pdf.tmp`) followed a
symlink planted there. Here every folder created is 0700, every file 0600, and a file is written to
a fresh temporary file (`tempfile.mkstemp`: O_EXCL, mode 0600, never an existing path) renamed over
its name, so no reader sees it half-written.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dirs(folder: Path, *, existing: str = "private") -> None:
    """Create `folder` and any missing parent, each 0700. An existing `folder` of ours is made private
    (`existing="private"`), or only closed to others' writes (`"unwritable"`: a home folder someone
    chose, e.g. their own home, whose listing others may keep reading), or left alone (`"keep"`)."""
    missing: list[Path] = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=PRIVATE_DIR)
        if os.name == "posix":
            os.chmod(path, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    if missing or existing == "keep":
        return
    if existing == "private":
        tighten(folder)
    else:
        _unwritable_by_others(folder)


def tighten(path: Path) -> None:
    """Take group and others' access away from a folder or file this user owns (POSIX; a symlink is
    left alone: it is not ours to change what it points at)."""
    if os.name != "posix":
        return
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid() or not info.st_mode & 0o077:
        return
    os.chmod(path, PRIVATE_DIR if stat.S_ISDIR(info.st_mode) else PRIVATE_FILE)


def _unwritable_by_others(path: Path) -> None:
    if os.name != "posix":
        return
    info = path.lstat()
    if not stat.S_ISLNK(info.st_mode) and info.st_uid == os.geteuid() and info.st_mode & 0o022:
        os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o022)


def write_private(path: Path, content: bytes) -> None:
    """Write `content` to `path` (0600, its folder created 0700): complete or not at all."""
    private_dirs(path.parent, existing="keep")  # a folder made here is private; an existing one is not ours to change
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # only after an error
