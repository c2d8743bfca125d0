#!/usr/bin/env bash
# scripts/demo.sh — set up everything (scripts/setup.sh) and start the counter in demo mode.
# 演示模式：自动准备环境，然后启动结算窗口程序。Extra arguments go to `wi-counter gui --demo`.
# Idempotent; works from any directory.
set -euo pipefail

# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
# The counter, its sandbox centre and the virtual card start from cached .pyc, even where the
# environment sets PYTHONDONTWRITEBYTECODE (scripts/test.sh says why).
unset PYTHONDONTWRITEBYTECODE

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
# Start each in the background and stop it on exit (stop_demo_services, trap ... EXIT); the GUI
# runs as a plain call so the trap fires when it ends.
# ---------------------------------------------------------------------------------------------

# --- the virtual 社保卡 (issue 3): 张伟's card in vpcd's first reader ("Virtual PCD 00 00") ---
card_simulator_pid=""
stop_demo_services() {
    if [[ -n $card_simulator_pid ]]; then
        kill "$card_simulator_pid" 2>/dev/null || true
        wait "$card_simulator_pid" 2>/dev/null || true
    fi
}
trap stop_demo_services EXIT
pcscd_bin=$(command -v pcscd || echo /usr/sbin/pcscd)
if [[ -e /usr/lib/pcsc/drivers/serial/libifdvpcd.so && -x $pcscd_bin ]]; then
    # A pcscd started by the tests (--auto-exit) quits when idle, maybe just as the window opens:
    # as root, swap it for one that stays.
    start_pcscd=0
    if [[ $(id -u) -eq 0 ]] && pgrep -a -x pcscd 2>/dev/null | grep -q -- '--auto-exit'; then
        pkill -x pcscd || true
        sleep 0.5
        start_pcscd=1
    fi
    if [[ $start_pcscd -eq 1 ]] || ! pgrep -x pcscd >/dev/null 2>&1; then
        if [[ $(id -u) -eq 0 ]]; then
            printf '==> 启动智能卡服务 / starting pcscd\n' >&2
            "$pcscd_bin" || true
        else
            printf '提示：智能卡服务 pcscd 未运行，虚拟社保卡不可用；可执行 sudo systemctl start pcscd\n' >&2
            printf 'hint: pcscd is not running, so the virtual card is unavailable (sudo systemctl start pcscd)\n' >&2
        fi
    fi
    printf '==> 插入虚拟社保卡（张伟）/ plugging in the virtual card of 张伟\n' >&2
    "$VENV/bin/wi-counter" card simulate "$REPO/resources/demo/cards/zhang-wei.json" &
    card_simulator_pid=$!
fi

# sandbox centre (issue 5) ----------------------------------------------------------------------
# The demo's 结算中心: `wi-counter centre serve --demo` on 127.0.0.1:8765 (the counter's default
# centre.url), its own database in the demo folder, demo signing keys from resources/sandbox/.
# Started in the background, stopped when this script ends; if the port is taken (a sandbox is
# already running) the demo goes on with that one. WI_COUNTER_DEMO_CENTRE=0 skips it.
_wi_sandbox_pid=""
_wi_stop_sandbox() {
    if [[ -n $_wi_sandbox_pid ]] && kill -0 "$_wi_sandbox_pid" 2>/dev/null; then
        kill -TERM "$_wi_sandbox_pid" 2>/dev/null || true
        wait "$_wi_sandbox_pid" 2>/dev/null || true
    fi
}
if [[ ${WI_COUNTER_DEMO_CENTRE:-1} != 0 ]]; then
    printf '==> 启动沙箱结算中心 / starting the sandbox centre (127.0.0.1:8765)\n' >&2
    "$VENV/bin/wi-counter" centre serve --demo --host 127.0.0.1 --port 8765 &
    _wi_sandbox_pid=$!
    _wi_previous_exit_trap=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")
    # shellcheck disable=SC2064  # expand now: chain any earlier EXIT trap after ours
    trap "_wi_stop_sandbox; ${_wi_previous_exit_trap}" EXIT
    "$VENV/bin/python" - <<'PY' || printf '提示：沙箱结算中心未就绪，窗口将显示“中心未连接” / hint: sandbox centre not ready\n' >&2
import time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen("http://127.0.0.1:8765/health", timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit(1)
PY
    # Last month's settlements, so the 月度结算 page has a month to claim (once; skipped when it has).
    "$VENV/bin/wi-counter" --demo claims demo-month >&2 \
        || printf '提示：未能生成上月演示结算 / hint: could not settle last month for the demo\n' >&2
fi
# ------------------------------------------------------------------------------- sandbox centre

printf '==> 启动演示模式 / starting wi-counter in demo mode\n' >&2
# not `exec`: the EXIT traps above must run when the window closes
"$VENV/bin/wi-counter" gui --demo "$@"
exit $?
