"""Screenshots a person looks at after a run (`test-artifacts/<folder>/`, not committed, not compared)."""

from __future__ import annotations

from pathlib import Path

from ui.qt import QWidget

ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def save_shot(widget: QWidget, folder: str, name: str) -> Path:
    target = ARTEFACTS / folder
    target.mkdir(parents=True, exist_ok=True)
    path = target / name
    widget.grab().save(str(path))
    return path
