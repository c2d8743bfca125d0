#!/usr/bin/env bash
# scripts/setup.sh — idempotent set-up of a development/demo machine (Debian 12, Ubuntu 22.04+).
# 一次性准备：系统软件包、Python 3.11+ 虚拟环境、以可编辑方式安装 wi-counter[test,build]。
#
# Run it (`bash scripts/setup.sh`) or source it (scripts/demo.sh and scripts/test.sh do);
# when sourced it leaves REPO and VENV set for the caller. Works from any directory.
#
# Environment:
#   PYTHON            interpreter used to create the venv (default: python3, else python3.13/.12/.11)
#   WI_COUNTER_VENV   where the virtual environment lives (default: $REPO/.venv)
#
# Second and later runs are fast: no apt-get when every package is installed, no pip when
# pyproject.toml has not changed since the last successful install (stamp file in the venv).

# Debian/Ubuntu packages: build deps of pyscard (swig, libpcsclite-dev), the PC/SC daemon and the
# virtual reader (vpcd), PostgreSQL for the tests, the Python venv/headers, a CJK font, the X11/EGL
# libraries Qt 6 needs, pdftotext (poppler-utils) for slip tests, Xvfb, and openssl (the sandbox centre's
# TLS test makes a self-signed certificate), libfaketime (the sandbox centre's clock set around midnight in
# the clock tests, tests/workflow/test_clock_midnight.py), procps (pgrep: the card tests wait for pcscd to be
# gone before starting it again), LibreOffice Calc (the monthly forms' XLSX printed by soffice headless and
# read back, tests/claims/test_claim_forms_xlsx_render.py) with Carlito, Calibri's metric twin (LibreOffice
# measures an XLSX's column widths by its default font, Calibri: with Carlito it lays them out as Excel does).
# Extend here.
WI_COUNTER_APT_PACKAGES=(
    swig libpcsclite-dev pcscd vsmartcard-vpcd
    postgresql
    python3-venv python3-dev gcc
    fonts-wqy-microhei
    libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0
    libxcb-randr0 libxcb-render-util0 libxcb-image0
    poppler-utils xvfb
    openssl
    libfaketime
    procps
    libreoffice-calc-nogui fonts-crosextra-carlito
)

# Bump to force a re-install on every machine (e.g. when the pip command below changes).
WI_COUNTER_SETUP_STAMP_VERSION=3

_wi_say() { printf '==> %s\n' "$*" >&2; }
_wi_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

_wi_system_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        _wi_say "未找到 dpkg，跳过系统软件包检查 / no dpkg: not Debian/Ubuntu, skipping system packages (install the equivalents of: ${WI_COUNTER_APT_PACKAGES[*]})"
        return 0
    fi
    local missing=() pkg status
    for pkg in "${WI_COUNTER_APT_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
        [[ $status == ii* ]] || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        {
            printf 'ERROR: 缺少系统软件包 / missing system packages: %s\n' "${missing[*]}"
            printf '请先运行 / please run first:\n\n'
            printf '    sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n\n' "${missing[*]}"
            printf '然后重新运行本脚本 / then run this script again.\n'
        } >&2
        exit 1
    fi
    _wi_say "安装系统软件包 / installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
}

# Print the path of a Python >= 3.11, or fail with a clear message.
_wi_find_python() {
    local candidates=() c path
    if [[ -n ${PYTHON:-} ]]; then
        candidates=("$PYTHON")
    else
        candidates=(python3 python3.13 python3.12 python3.11)
    fi
    for c in "${candidates[@]}"; do
        path=$(command -v "$c" 2>/dev/null) || continue
        if "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            printf '%s\n' "$path"
            return 0
        fi
    done
    {
        if [[ -n ${PYTHON:-} ]]; then
            printf 'ERROR: PYTHON=%s 不是 Python 3.11 或更高版本 / is not Python 3.11 or newer (or not found).\n' "$PYTHON"
        else
            printf 'ERROR: 需要 Python 3.11 或更高版本 / Python 3.11 or newer is required; python3 is %s.\n' \
                "$(python3 --version 2>&1 || echo 'not installed')"
        fi
        printf '在 Ubuntu 22.04 上 / on Ubuntu 22.04:\n'
        printf '    sudo apt-get install -y python3.11 python3.11-venv python3.11-dev\n'
        printf '    PYTHON=python3.11 bash %s\n' "$REPO/scripts/setup.sh"
    } >&2
    exit 1
}

_wi_venv() {
    local py
    if [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
        return 0
    fi
    py=$(_wi_find_python)
    if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
        _wi_die "$py 缺少 venv/ensurepip 模块 / lacks the venv/ensurepip modules: apt-get install python3-venv (or python3.X-venv for $("$py" --version 2>&1))"
    fi
    if [[ -e $VENV && ! -f $VENV/pyvenv.cfg ]]; then
        _wi_die "$VENV 已存在但不是虚拟环境 / exists but is not a virtual environment; remove it or set WI_COUNTER_VENV"
    fi
    if [[ -e $VENV ]]; then
        _wi_say "虚拟环境已损坏，重建 / virtual environment is broken, recreating: $VENV"
        "$py" -m venv --clear "$VENV"
    else
        _wi_say "创建虚拟环境 / creating virtual environment: $VENV ($("$py" --version 2>&1))"
        "$py" -m venv "$VENV"
    fi
    rm -f "$VENV/.wi-counter-installed"
}

_wi_stamp() {
    {
        echo "setup-stamp $WI_COUNTER_SETUP_STAMP_VERSION"
        echo "repo $REPO"
        echo "venv $VENV"
        "$VENV/bin/python" -c 'import sys; print("python", sys.version)'
        cat "$REPO/pyproject.toml"
    } | sha256sum | cut -d' ' -f1
}

_wi_pip_install() {
    local stamp_file=$VENV/.wi-counter-installed want have=""
    want=$(_wi_stamp)
    [[ -f $stamp_file ]] && have=$(<"$stamp_file")
    if [[ $want == "$have" && -x $VENV/bin/wi-counter ]]; then
        return 0
    fi
    _wi_say "安装 Python 依赖（首次需几分钟）/ installing wi-counter[test,build] into the venv (first time takes a few minutes)"
    rm -f "$stamp_file"
    # uv (itself from the package registry) installs the same requirements in a third of pip's time,
    # which a CI run on a fresh clone pays every time; pip stays the fallback when uv cannot be had.
    # --compile-bytecode: the libraries' .pyc written once here (pip does so by default, uv does not).
    # Without them, where PYTHONDONTWRITEBYTECODE is set (this CI machine's environment), every
    # process compiled SQLAlchemy and the rest from source: 4 s to import the counter instead of 1.4 s.
    if "$VENV/bin/python" -m pip install --quiet --progress-bar off "uv>=0.5" </dev/null >/dev/null 2>&1 \
        && "$VENV/bin/python" -m uv pip install --quiet --compile-bytecode --python "$VENV/bin/python" \
            -e "${REPO}[test,build]" </dev/null; then
        :
    else
        _wi_say "uv 不可用，改用 pip / uv unavailable: installing with pip"
        "$VENV/bin/python" -m pip install --quiet --progress-bar off -e "${REPO}[test,build]" </dev/null
    fi
    [[ -x $VENV/bin/wi-counter ]] || _wi_die "pip 安装后缺少 / missing after pip install: $VENV/bin/wi-counter"
    # A venv made before --compile-bytecode (uv compiles only what it installs) gets them too.
    "$VENV/bin/python" -m compileall -q -j 0 "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
        </dev/null >/dev/null 2>&1 || true
    printf '%s\n' "$want" >"$stamp_file"
}

_wi_setup_main() {
    REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
    VENV=${WI_COUNTER_VENV:-$REPO/.venv}
    [[ -f $REPO/pyproject.toml ]] || _wi_die "找不到 / cannot find $REPO/pyproject.toml"
    _wi_system_packages
    _wi_venv
    _wi_pip_install
    _wi_say "环境就绪 / ready: $VENV"
    export REPO VENV
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    # Run as a script.
    set -euo pipefail
    _wi_setup_main
else
    # Sourced: run with strict options, then give the caller back its own options.
    _wi_saved_opts=$(set +o)
    set -euo pipefail
    _wi_setup_main
    eval "$_wi_saved_opts"
    unset _wi_saved_opts
fi
