"""Logging: a rotating file in the platform's log folder, with ID numbers masked.

`TRACE` (level 5, below DEBUG) is for APDU dumps and wire traces; it is off unless
the `logging.level` setting asks for it. The masking filter sits on the handlers,
so no logger anywhere in the program can write an unmasked ID number to a file.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
from pathlib import Path

from app.masking import mask_ids_in_text

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

LOG_FORMAT = "%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"
MAX_BYTES = 5 * 1024 * 1024

_HANDLER_MARK = "_wi_counter_handler"


class IdMaskingFilter(logging.Filter):
    """Replaces the record's message by its masked text (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must still be logged, not lost
            message = f"{record.msg!r} {record.args!r}"
        record.msg = mask_ids_in_text(message)
        record.args = None
        return True


class IdMaskingFormatter(logging.Formatter):
    """Masks the final text too: tracebacks and `extra` fields pass the filter untouched."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_ids_in_text(super().format(record))


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Each log file, the first and every one after a rotation, is created readable by the user only."""

    def _open(self) -> io.TextIOWrapper:
        # Created 0600 before the handler opens it: the umask would make a rotated file world-readable.
        if not Path(self.baseFilename).exists():
            try:
                os.close(os.open(self.baseFilename, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600))
            except OSError:
                pass  # the handler's own open reports the problem
        return super()._open()


def level_number(name: str) -> int:
    return TRACE if name == "TRACE" else logging.getLevelName(name)


def configure_logging(log_file: Path, level: str = "INFO", keep_files: int = 10, console: bool = False) -> None:
    """Install the program's handlers on the root logger (again: replacing the previous ones)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handlers: list[logging.Handler] = [
        PrivateRotatingFileHandler(log_file, maxBytes=MAX_BYTES, backupCount=keep_files, encoding="utf-8")
    ]
    if console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler.addFilter(IdMaskingFilter())
        handler.setFormatter(IdMaskingFormatter(LOG_FORMAT))
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    root.setLevel(level_number(level))
    # Alembic narrates every migration step at INFO; our own migrate.py says from which revision to
    # which, so the steps are DEBUG detail (issue 24 §6).
    logging.getLogger("alembic").setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)
    try:
        log_file.chmod(0o600)
    except OSError:
        pass  # e.g. a filesystem without modes: the folder is already private
