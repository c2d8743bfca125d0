"""The layering of ARCHITECTURE.md, checked by import-linter against pyproject.toml."""

from __future__ import annotations

import re
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
    contracts = (REPO / "pyproject.toml").read_text(encoding="utf-8").split("[tool.importlinter]", 1)[1]
    # The composition root's allowed imports, as in the real tree (import-linter refuses an
    # ignore that matches nothing): every `app.X -> Y` of the contracts, made lazily in app.X.
    allowed = sorted(set(re.findall(r'"(app\.[\w.]+) -> ([\w.]+)"', contracts)))
    assert ("app.cli", "ui.main") in allowed
    importers: dict[str, list[str]] = {}
    for importer, module in allowed:
        importers.setdefault(importer, []).append(module)
    # The layers and the project's modules the contracts name must exist (import-linter refuses a
    # missing one).
    layers = {name for listed in re.findall(r"^(?:layers|source_modules|forbidden_modules) = \[(.*?)\]$",
                                             contracts, flags=re.M | re.S)
              for name in re.findall(r'"([\w.]+)"', listed) if name.split(".")[0] == "app"}
    assert "app.workflow" in layers
    for layer in layers - {m for _, m in allowed} - set(importers):  # those are stubbed below
        (tmp_path / layer.replace(".", "/")).mkdir(parents=True, exist_ok=True)
        (tmp_path / layer.replace(".", "/") / "__init__.py").touch()
    modules = {m for _, m in allowed} | set(importers)
    for module in modules:
        # A module with modules below it (app.cli and app.cli.claims) is a package: its __init__.py.
        package = any(other.startswith(module + ".") for other in modules)
        path = tmp_path / (module.replace(".", "/") + ("/__init__.py" if package else ".py"))
        for parent in path.relative_to(tmp_path).parents:
            if parent != Path("."):
                (tmp_path / parent).mkdir(exist_ok=True)
                (tmp_path / parent / "__init__.py").touch()
        path.write_text("".join(f"def use_{i}() -> None:\n    import {m}\n"
                                for i, m in enumerate(importers.get(module, []))))
    (tmp_path / "app" / "leaky.py").write_text("import PySide6\nimport ui\n")
    (tmp_path / "app" / "sandbox" / "leaky.py").write_text("import app.db\n")  # the sandbox reading the counter's tables
    (tmp_path / "pyproject.toml").write_text("[tool.importlinter]" + contracts, encoding="utf-8")
    result = subprocess.run(
        [_lint_imports(), "--config", str(tmp_path / "pyproject.toml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "app.leaky -> PySide6" in result.stdout, result.stdout
    assert "app.leaky -> ui" in result.stdout, result.stdout
    assert "app.sandbox.leaky -> app.db" in result.stdout, result.stdout
