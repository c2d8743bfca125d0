"""The PyInstaller build (build_spec/wi-counter.spec) without building it.

What a frozen program loads by name must be in the spec, or it fails only at a site, the
first time it needs it. The spec is run here with PyInstaller's build steps replaced by
recorders, so these tests read the lists PyInstaller would really get. The full build and
a run of the built program are scripts/check-build.sh (its own CI step).
"""

from __future__ import annotations

import argparse
import re
import sys
import types
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import app
from app import resources
from app.sandbox import server as sandbox_server
from app.sandbox import supervisor as sandbox_supervisor

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "build_spec" / "wi-counter.spec"


_QT_BINARIES = (
    "lib/libQt6Widgets.so.6", "lib/libQt6Pdf.so.6", "plugins/platforms/libqoffscreen.so",
    "plugins/platforminputcontexts/libibusplatforminputcontextplugin.so",
    "plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", "lib/libQt6VirtualKeyboard.so.6",
    "lib/libQt6Quick.so.6", "lib/libQt6Qml.so.6", "lib/libQt6QmlModels.so.6",
)


class _Recorder:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.scripts: list[object] = []
        self.pure: list[object] = []
        # A few of the files PyInstaller's Qt hooks collect (destination, source, kind).
        self.binaries: list[tuple[str, str, str]] = [
            (f"PySide6/Qt/{name}", f"/venv/PySide6/Qt/{name}", "BINARY") for name in _QT_BINARIES]
        self.datas: list[object] = []


def _run_spec() -> dict[str, Any]:
    namespace: dict[str, Any] = {
        "__name__": "__main__", "__file__": str(SPEC), "SPECPATH": str(SPEC.parent),
        "Analysis": _Recorder, "PYZ": _Recorder, "EXE": _Recorder, "COLLECT": _Recorder,
    }
    saved_path = list(sys.path)
    try:
        exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    finally:
        sys.path[:] = saved_path
    return namespace


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The spec's names after running it, Analysis/PYZ/EXE/COLLECT recorded instead of run."""
    return _run_spec()


@pytest.fixture(scope="module")
def windows_spec() -> dict[str, Any]:
    """The spec as PyInstaller runs it on Windows (scripts/build-windows.sh, under Wine)."""
    # PyInstaller's own modules, imported here first, read the real platform (win32 would want pywin32).
    import PyInstaller.utils.hooks  # noqa: F401

    with pytest.MonkeyPatch.context() as patch:
        # versioninfo needs pefile (Windows only): its classes are recorded like the build steps.
        recorder = types.ModuleType("PyInstaller.utils.win32.versioninfo")
        for name in ("VSVersionInfo", "FixedFileInfo", "StringFileInfo", "StringTable", "StringStruct",
                     "VarFileInfo", "VarStruct"):
            setattr(recorder, name, type(name, (_Recorder,), {"__repr__": lambda self: repr((self.args, self.kwargs))}))
        patch.setitem(sys.modules, "PyInstaller.utils.win32.versioninfo", recorder)
        patch.setattr(sys, "platform", "win32")
        return _run_spec()


def test_windows_gets_a_windowed_program_and_a_console_one_with_icon_and_version(windows_spec: dict[str, Any]) -> None:
    window, cli = windows_spec["EXECUTABLES"]
    assert (window.kwargs["name"], window.kwargs["console"]) == ("wi-counter", False)  # no black window behind the GUI
    assert (cli.kwargs["name"], cli.kwargs["console"]) == ("wi-counter-cli", True)
    for program in (window, cli):
        icon = Path(program.kwargs["icon"])
        assert icon == REPO / "resources" / "icons" / "wi-counter.ico" and icon.read_bytes()[:4] == b"\0\0\1\0"
        info = program.kwargs["version"]
        assert type(info).__name__ == "VSVersionInfo" and f"'FileVersion', '{app.__version__}'" in repr(info)
        assert f"'OriginalFilename', '{program.kwargs['name']}.exe'" in repr(info)
        assert ("X utf8", None, "OPTION") in program.args[2]  # Chinese output on any code page
    coll = windows_spec["coll"]
    assert coll.args[:2] == (window, cli) and coll.kwargs["name"] == "wi-counter"  # one folder, one _internal/


def test_linux_keeps_one_console_program(spec: dict[str, Any]) -> None:
    assert [(e.kwargs["name"], e.kwargs["console"]) for e in spec["EXECUTABLES"]] == [("wi-counter", True)]
    assert spec["exe"].kwargs["icon"] is None and spec["coll"].args[0] is spec["exe"] and spec["exe"].args[2] == []


def test_every_keyring_backend_is_a_hidden_import(spec: dict[str, Any]) -> None:
    hidden = set(spec["a"].kwargs["hiddenimports"])
    backends = {entry.value.split(":")[0] for entry in metadata.entry_points(group="keyring.backends")}
    assert {"keyring.backends.SecretService", "keyring.backends.Windows", "keyring.backends.macOS",
            "keyring.backends.kwallet", "keyring.backends.chainer"} <= backends
    assert backends <= hidden
    if sys.platform.startswith("linux"):  # the Secret Service back end talks D-Bus through these
        assert {"secretstorage", "jeepney"} <= hidden
    # keyring finds the backends through its entry points: its metadata must travel too.
    assert any("keyring-" in Path(source).name and source.endswith(".dist-info")
               for source, _target in spec["a"].kwargs["datas"])


def test_windows_leaves_out_the_linux_keyring_libraries(windows_spec: dict[str, Any], spec: dict[str, Any]) -> None:
    """secretstorage (D-Bus) drags cryptography into the Windows analysis; Wine cannot load its DLL."""
    linux_only = {"secretstorage", "jeepney", "cryptography"}
    assert linux_only <= set(windows_spec["a"].kwargs["excludes"])
    assert not linux_only & set(windows_spec["a"].kwargs["hiddenimports"])
    assert not linux_only & set(spec["a"].kwargs["excludes"])  # the Linux keyring needs them


def test_every_module_of_the_programs_packages_is_a_hidden_import(spec: dict[str, Any]) -> None:
    """Listed from the files (no interpreter per package): a new module is bundled without a spec edit."""
    hidden = set(spec["a"].kwargs["hiddenimports"])
    for package in ("app", "ui", "devices", "printing"):
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            assert module in hidden, module
    assert not {name for name in hidden if "__pycache__" in name or name.endswith(".__init__")}


def test_every_migration_is_bundled_as_file_and_as_module(spec: dict[str, Any]) -> None:
    analysis = spec["a"].kwargs
    revisions = sorted(p.stem for p in (REPO / "app/db/migrations/versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    from app.db.migrate import head_revision

    assert revisions and revisions[-1].startswith(head_revision())  # found by the spec, not listed by hand
    for revision in revisions:
        assert f"app.db.migrations.versions.{revision}" in analysis["hiddenimports"]
    # Alembic reads script_location from disk: the folder goes where app.db.migrate looks.
    assert (str(REPO / "app/db/migrations"), "app/db/migrations") in analysis["datas"]
    from app.db import migrate

    assert migrate.MIGRATIONS_DIR.relative_to(REPO).as_posix() == "app/db/migrations"


def test_dialects_commands_and_the_sandbox_are_hidden_imports(spec: dict[str, Any]) -> None:
    hidden = set(spec["a"].kwargs["hiddenimports"])
    assert {"sqlalchemy.dialects.sqlite.pysqlite", "sqlalchemy.dialects.postgresql.psycopg", "psycopg",
            "aiohttp", "app.sandbox.server", "ui.main", "devices.cli", "printing.templates",
            "printing.claim_forms"} <= hidden


def test_resources_are_data_and_the_version_is_the_packages(spec: dict[str, Any]) -> None:
    assert (str(REPO / "resources"), "resources") in spec["a"].kwargs["datas"]
    assert spec["__version__"] == app.__version__
    assert spec["exe"].kwargs["name"] == "wi-counter" and spec["exe"].kwargs["exclude_binaries"] is True
    assert spec["coll"].kwargs["name"] == "wi-counter"  # one folder: dist/wi-counter/


def test_qt_modules_the_window_does_not_use_are_excluded(spec: dict[str, Any]) -> None:
    excludes = set(spec["a"].kwargs["excludes"])
    qt_source = (REPO / "ui" / "qt.py").read_text(encoding="utf-8")
    used = set(re.findall(r"PySide6\.(Qt\w+)", qt_source)) | {"QtCore", "QtGui", "QtWidgets"}
    assert {"QtPdf", "QtPdfWidgets", "QtPrintSupport"} <= used
    assert not {f"PySide6.{name}" for name in used} & excludes
    assert {"PySide6.QtWebEngineCore", "PySide6.Qt3DCore", "PySide6.QtQuick", "PySide6.QtMultimedia"} <= excludes


def test_resources_are_found_under_meipass_in_a_one_folder_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PyInstaller 6's one-folder layout: the executable beside `_internal/`, which is sys._MEIPASS.
    internal = tmp_path / "wi-counter" / "_internal"
    profile = internal / "resources" / "profiles" / "guangdong-intra.toml"
    profile.parent.mkdir(parents=True)
    profile.write_text("# frozen copy\n", encoding="utf-8")
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    assert resources.resources_dir() == internal / "resources"
    assert resources.resource_path("profiles", "guangdong-intra.toml").read_text(encoding="utf-8") == "# frozen copy\n"
    monkeypatch.delattr(sys, "_MEIPASS")
    assert resources.resources_dir() == REPO / "resources"


def _sandbox_args(latency_ms: float = 0.0, jitter_ms: float = 0.0) -> argparse.Namespace:
    # The same fields `supervise` fills in (app.sandbox.supervisor).
    return argparse.Namespace(host="127.0.0.1", data=Path("/srv/sandbox"), tls_cert=None, tls_key=None,
                              fault=["delay:1101:seconds=2"], latency_ms=latency_ms, jitter_ms=jitter_ms)


def test_the_sandbox_childs_network_delay_outlives_a_restart_and_its_faults_do_not() -> None:
    first = sandbox_supervisor._child_arguments(_sandbox_args(latency_ms=80, jitter_ms=20), 8766, first=True)
    again = sandbox_supervisor._child_arguments(_sandbox_args(latency_ms=80, jitter_ms=20), 8766, first=False)
    assert first[-6:] == ["--latency", "80", "--jitter", "20", "--fault", "delay:1101:seconds=2"]
    assert again[-4:] == ["--latency", "80", "--jitter", "20"] and "--fault" not in again


def test_the_sandbox_child_is_started_through_python_m_from_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    command = sandbox_supervisor._child_arguments(_sandbox_args(), 8766, first=True)
    assert command[:3] == [sys.executable, "-m", "app.sandbox.server"]


def test_the_frozen_sandbox_child_is_a_subcommand_of_the_program_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen sys.executable is wi-counter, which has no `-m`: `centre serve --child` instead."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/wi-counter/wi-counter")
    command = sandbox_supervisor._child_arguments(_sandbox_args(latency_ms=80), 8766, first=True)
    assert command[:4] == ["/opt/wi-counter/wi-counter", "centre", "serve", "--child"]

    served: list[list[str]] = []
    monkeypatch.setattr(sandbox_server, "main", lambda argv: served.append(list(argv)) or 0)
    from app.cli import main as cli_main

    assert cli_main(command[1:]) == 0
    assert served == [["--host", "127.0.0.1", "--port", "8766", "--data", "/srv/sandbox",
                       "--fault", "delay:1101:seconds=2", "--latency", "80.0", "--jitter", "0.0"]]


def test_the_virtual_keyboard_and_the_qml_it_needs_are_left_out(spec: dict[str, Any]) -> None:
    kept = {Path(dest).name for dest, _source, _kind in spec["a"].binaries}
    assert kept == {"libQt6Widgets.so.6", "libQt6Pdf.so.6", "libqoffscreen.so",
                    "libibusplatforminputcontextplugin.so"}  # Chinese input (ibus) stays


def test_the_holidays_package_travels_whole_enough(spec: dict[str, Any]) -> None:
    """app.claims.calendar asks `holidays` for China by code: the registry imports the country module
    by name, the version is read from the package's metadata, the Chinese names from its CN catalogue."""
    analysis = spec["a"].kwargs
    assert {"holidays.registry", "holidays.countries.china", "holidays.groups.chinese"} <= set(analysis["hiddenimports"])
    datas = analysis["datas"]
    assert any("holidays-" in Path(source).name and source.endswith(".dist-info") for source, _target in datas)
    assert any(source.replace("\\", "/").endswith("zh_CN/LC_MESSAGES/CN.mo") and target.replace("\\", "/")
               == "holidays/locale/zh_CN/LC_MESSAGES" for source, target in datas)
