#!/usr/bin/env bash
# scripts/demo.sh — set up everything (scripts/setup.sh) and start the counter in demo mode.
# 演示模式：自动准备环境，然后启动结算窗口程序。Extra arguments go to `wi-counter gui --demo`.
# Idempotent; works from any directory.
set -euo pipefail

# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

if [[ -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} && -z ${QT_QPA_PLATFORM:-} ]]; then
    {
        echo "提示：没有图形显示（DISPLAY/WAYLAND_DISPLAY 均未设置），程序窗口可能无法打开。"
        echo "hint: no display (DISPLAY and WAYLAND_DISPLAY are unset); the window needs one."
        echo "      Run it on a desktop, with ssh -X, under xvfb-run, or headless with"
        echo "      QT_QPA_PLATFORM=offscreen bash $REPO/scripts/demo.sh"
        echo "      Trying anyway / 仍然尝试启动 ..."
    } >&2
fi

# ---------------------------------------------------------------------------------------------
# DEMO SERVICES — later issues start them here, before the GUI:
#   * the virtual 社保卡 (vsmartcard vpcd + a card simulator) so the reader has a card to read;
#   * the sandbox 结算中心 (settlement centre) the demo talks to.
# Start each in the background, stop it on exit (trap ... EXIT), and since the GUI is started with
# `exec` below, switch to a plain call + `exit $?` once a trap is needed.
# ---------------------------------------------------------------------------------------------

printf '==> 启动演示模式 / starting wi-counter in demo mode\n' >&2
exec "$VENV/bin/wi-counter" gui --demo "$@"
