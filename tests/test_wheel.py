"""The wheel built from the repository is a complete program (issue 24 §4).

The wheel is built (`pip wheel .`, the build backend in its isolated environment, as a site's
IT person or `python -m build --wheel` would), installed into a fresh virtualenv and run from a
folder outside the checkout: `resources/` must travel inside it and be found through the
package, and a missing resource must be reported as an incomplete install, not as the case
file's fault.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import app
from app import resources

REPO = Path(__file__).resolve().parent.parent
CASE = REPO / "tests" / "cases" / "guangdong-sample-slip.json"
INCOMPLETE = "程序文件不完整，请重新安装"


# One worker builds the wheel: `pip wheel` of the checkout writes into its build/ folder, and two
# workers building at once collided there ("File exists: build/bdist.linux-x86_64/...").
pytestmark = pytest.mark.xdist_group("wheel")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-v", "-w", str(out), str(REPO)],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = list(out.glob("wi_counter-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], result.stdout + result.stderr


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH: the checkout (and the egg-info a build leaves in it) must not be seen."""
    return {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}


@pytest.fixture(scope="module")
def installed(built: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel; the dependencies come from this interpreter's
    site-packages through a .pth line (no download), which does not carry this checkout's
    editable install along (.pth files are read only in site folders, not in folders they add)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                    "--quiet", str(built[0])], check=True, timeout=300, stdin=subprocess.DEVNULL, env=_clean_env())
    # After the install: pip would otherwise see this interpreter's (editable) wi-counter as installed.
    (purelib / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return env_dir


def _run(env_dir: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = _clean_env()
    env["WI_COUNTER_HOME"] = str(home)
    return subprocess.run([str(env_dir / "bin" / "wi-counter"), *args], cwd=home, env=env,
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def test_the_wheel_carries_resources(built: tuple[Path, str]) -> None:
    names = set(zipfile.ZipFile(built[0]).namelist())
    shipped = {f"app/_resources/{p.relative_to(REPO / 'resources').as_posix()}"
               for p in (REPO / "resources").rglob("*") if p.is_file()}
    assert shipped and shipped <= names, sorted(shipped - names)[:10]
    assert not any(name.startswith("resources/") for name in names)  # no top-level package named `resources`


def test_the_build_has_no_license_deprecation_warning(built: tuple[Path, str]) -> None:
    assert "project.license" not in built[1]
    assert "License classifiers are deprecated" not in built[1]


def test_the_installed_wheel_checks_a_case_and_shows_the_calendar(installed: Path, tmp_path: Path) -> None:
    where = _run(installed, tmp_path, "--version")
    assert where.returncode == 0 and app.__version__ in where.stdout + where.stderr
    probe = subprocess.run([str(installed / "bin" / "python"), "-c", "import app; print(app.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True,
                           env=_clean_env())
    assert str(REPO) not in probe.stdout  # the installed copy runs, not this checkout
    check = _run(installed, tmp_path, "check", str(CASE), "--stage", "discharge")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "地区政策" not in check.stdout + check.stderr
    calendar = _run(installed, tmp_path, "calendar", "show")
    assert calendar.returncode == 0, calendar.stdout + calendar.stderr
    assert "2026" in calendar.stdout and "未导入" not in calendar.stdout.split("2026", 1)[1].splitlines()[0]


def test_an_installed_copy_missing_its_resources_says_reinstall(installed: Path, tmp_path: Path) -> None:
    copy = tmp_path / "venv"
    shutil.copytree(installed, copy, symlinks=True)
    # The console script's shebang names the original venv's python; run the module instead.
    site = next(copy.glob("lib/python*/site-packages"))
    shutil.rmtree(site / "app" / "_resources" / "profiles")
    env = _clean_env()
    env["WI_COUNTER_HOME"] = str(tmp_path / "home")
    result = subprocess.run([str(copy / "bin" / "python"), "-m", "app", "check", str(CASE), "--stage", "discharge"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode != 0
    assert INCOMPLETE in result.stdout + result.stderr
    assert "没有名为" not in result.stdout + result.stderr  # not blamed on the case file's profile


def test_a_missing_resource_is_an_incomplete_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)  # a build whose resources/ is gone
    with pytest.raises(resources.ResourcesMissingError, match=INCOMPLETE):
        resources.resource_path("profiles")
    (tmp_path / "resources" / "profiles").mkdir(parents=True)
    assert resources.resource_path("profiles") == tmp_path / "resources" / "profiles"
    with pytest.raises(resources.ResourcesMissingError, match=INCOMPLETE):
        resources.resource_path("fonts", "wqy-microhei.ttc")
