"""The layering of ARCHITECTURE.md, checked by import-linter against pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert found, "import-linter is not installed (pip install -e '.[test]')"
    return found


def test_the_import_contracts_hold() -> None:
    result = subprocess.run([_lint_imports()], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_checker_catches_a_violation(tmp_path: Path) -> None:
    """A copy of the contracts over a tree where app/ imports Qt must fail."""
    for package in ("app", "ui", "devices", "printing"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    # The composition root's allowed imports, as in the real tree.
    (tmp_path / "app" / "cli.py").write_text(
        "def gui() -> None:\n    import ui.main\n\n\ndef card() -> None:\n    import devices.cli\n"
    )
    (tmp_path / "ui" / "main.py").write_text("")
    (tmp_path / "devices" / "cli.py").write_text("")
    (tmp_path / "app" / "leaky.py").write_text("import PySide6\nimport ui\n")
    contracts = (REPO / "pyproject.toml").read_text(encoding="utf-8").split("[tool.importlinter]", 1)[1]
    (tmp_path / "pyproject.toml").write_text("[tool.importlinter]" + contracts, encoding="utf-8")
    result = subprocess.run(
        [_lint_imports(), "--config", str(tmp_path / "pyproject.toml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "app.leaky -> PySide6" in result.stdout, result.stdout
    assert "app.leaky -> ui" in result.stdout, result.stdout
