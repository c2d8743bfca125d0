#!/usr/bin/env bash
# scripts/check-build.sh — prove the one-folder build works (CI runs it as its own step).
# 检查打包结果：构建（或沿用比源码新的构建），运行命令行，再以演示模式启动打包后的窗口读取虚拟社保卡。
#
#   bash scripts/check-build.sh          # exit 0 when every step passed
#
# Steps, all with the BUILT program (dist/wi-counter/wi-counter), in a throwaway WI_COUNTER_HOME:
#   1. build with scripts/build.sh unless dist/wi-counter is newer than every source file;
#   2. `--version` says the package's version;
#   3. `check` and `settle --slip` on a case file (rules, resources/profiles, reportlab + font);
#   4. `db upgrade` migrates an empty SQLite database to the newest revision (Alembic, frozen);
#   5. the sandbox centre (`centre serve`, aiohttp, its supervisor restarting the frozen child);
#   6. pcscd with vsmartcard's vpcd reader, the demo card of 张伟 inserted by the built
#      `card simulate`, then `gui --demo` offscreen, logged in as the demo cashier
#      (WI_COUNTER_AUTOLOGIN), until the 读卡 page shows the holder
#      (WI_COUNTER_EXIT_WHEN_CARD_READ prints the masked ID number; ui/main.py).
# The card steps hold /tmp/vpcd.lock (VPCD_LOCK) so that no one else drives vpcd meanwhile:
# do not wrap this script in another `flock` on the same file.
#
# Environment: VENV (for building; default $REPO/.venv), DIST (default $REPO/dist),
# WI_COUNTER_CHECK_REBUILD=1 builds even when the build is up to date.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIST=${DIST:-$REPO/dist}
EXE=$DIST/wi-counter/wi-counter
VPCD_LOCK=${VPCD_LOCK:-/tmp/vpcd.lock}
CARD_FILE=$REPO/resources/demo/cards/zhang-wei.json
CASE_FILE=$REPO/tests/cases/guangdong-sample-slip.json
VPCD_READER="Virtual PCD 00 00"
started=$(date +%s)

say() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'CHECK FAILED: %s\n' "$*" >&2; exit 1; }

WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/wi-counter-check.XXXXXX")
simulator_pid=""
centre_pid=""
cleanup() {
    local pid
    for pid in $simulator_pid $centre_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORKDIR"
}
trap cleanup EXIT
export WI_COUNTER_HOME=$WORKDIR/home
export QT_QPA_PLATFORM=offscreen
unset WI_COUNTER_DB_URL

# --- 1. build, or reuse one newer than the sources --------------------------------------------
sources_newer() {
    find "$REPO/app" "$REPO/ui" "$REPO/devices" "$REPO/printing" "$REPO/resources" "$REPO/build_spec" \
        "$REPO/pyproject.toml" -name __pycache__ -prune -o -type f -newer "$EXE" -print -quit
}
if [[ ${WI_COUNTER_CHECK_REBUILD:-0} == 1 || ! -x $EXE || -n $(sources_newer) ]]; then
    say "构建 / building"
    DIST=$DIST bash "$REPO/scripts/build.sh" >&2
else
    say "沿用已有的构建（比源码新）/ reusing $DIST/wi-counter (newer than the sources)"
fi
printf 'build: %s, %s\n' "$EXE" "$(du -sh "$DIST/wi-counter" | cut -f1)"

# --- 2. version --------------------------------------------------------------------------------
expected_version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$REPO/app/__init__.py")
version=$("$EXE" --version)
[[ $version == "wi-counter $expected_version" ]] || fail "--version said '$version', expected 'wi-counter $expected_version'"
printf 'ok  --version: %s\n' "$version"

# --- 3. the rules and the slip ---------------------------------------------------------------
"$EXE" check "$CASE_FILE" --stage discharge >"$WORKDIR/check.txt" || fail "check exited $? on $CASE_FILE"
grep -q "核验" "$WORKDIR/check.txt" || fail "check printed no verdict: $(cat "$WORKDIR/check.txt")"
printf 'ok  check: %s\n' "$(head -1 "$WORKDIR/check.txt")"
"$EXE" settle "$CASE_FILE" --slip "$WORKDIR/slip.pdf" >"$WORKDIR/settle.txt" || fail "settle --slip exited $?"
[[ $(head -c 5 "$WORKDIR/slip.pdf") == "%PDF-" ]] || fail "settle --slip wrote no PDF"
printf 'ok  settle --slip: %s bytes\n' "$(wc -c <"$WORKDIR/slip.pdf")"

# --- 4. migrations ------------------------------------------------------------------------------
head_revision=$(find "$REPO/app/db/migrations/versions" -name '[0-9][0-9][0-9][0-9]_*.py' -printf '%f\n' | sort | tail -1 | cut -c1-4)
"$EXE" db upgrade >"$WORKDIR/upgrade.txt" 2>&1 || fail "db upgrade exited $?: $(cat "$WORKDIR/upgrade.txt")"
current=$("$EXE" db current)
[[ $current == *": $head_revision"* ]] || fail "db current said '$current', expected revision $head_revision"
printf 'ok  db upgrade: %s\n' "$current"

# --- 5. the sandbox centre (its supervisor restarts the frozen child by `centre serve --child`) --
"$EXE" --demo centre serve --host 127.0.0.1 --port 0 >"$WORKDIR/centre.out" 2>"$WORKDIR/centre.err" &
centre_pid=$!
centre_url=""
for _ in $(seq 100); do
    centre_url=$(sed -n 's/.*sandbox centre: \(http:[^ ]*\) .*/\1/p' "$WORKDIR/centre.out" | head -1)
    [[ -n $centre_url ]] && break
    kill -0 "$centre_pid" 2>/dev/null || fail "centre serve ended: $(cat "$WORKDIR/centre.err")"
    sleep 0.2
done
[[ -n $centre_url ]] || fail "the sandbox centre printed no address: $(cat "$WORKDIR/centre.err")"
# centre.url is an administrator's setting: the demo's admin signs in (its public demo password) on stdin.
echo demo1234 | "$EXE" --demo settings set centre.url "$centre_url" --operator admin --password-stdin >/dev/null \
    || fail "settings set centre.url exited $?"
# The demo counter's own client probes it (signed request, verified answer).
for _ in $(seq 30); do
    "$EXE" --demo centre status >"$WORKDIR/centre-status.txt" 2>&1 && break
    kill -0 "$centre_pid" 2>/dev/null || fail "centre serve ended: $(cat "$WORKDIR/centre.err")"
    sleep 0.5
done
grep -q "reachable" "$WORKDIR/centre-status.txt" && ! grep -q "unreachable" "$WORKDIR/centre-status.txt" \
    || fail "the counter cannot reach the built sandbox centre: $(cat "$WORKDIR/centre-status.txt" "$WORKDIR/centre.err")"
printf 'ok  sandbox centre: %s\n' "$centre_url"

# --- 6. the window reads the virtual card ---------------------------------------------------------
exec 9>"$VPCD_LOCK"
say "等待虚拟读卡器 / waiting for $VPCD_LOCK"
flock -w 600 9 || fail "could not take $VPCD_LOCK within 10 minutes"
[[ -e /usr/lib/pcsc/drivers/serial/libifdvpcd.so ]] || fail "vsmartcard-vpcd is not installed (scripts/setup.sh)"
reader_listed() { "$EXE" card readers 2>/dev/null | grep -q "$VPCD_READER"; }
if ! reader_listed; then
    pcscd_bin=$(command -v pcscd || echo /usr/sbin/pcscd)
    [[ $(id -u) -eq 0 ]] || fail "pcscd is not running and only root may start it (sudo systemctl start pcscd)"
    say "启动智能卡服务 / starting pcscd"
    "$pcscd_bin" --auto-exit || true  # as the card tests do: it quits by itself when idle
    for _ in $(seq 75); do reader_listed && break; sleep 0.2; done
    reader_listed || fail "pcscd shows no '$VPCD_READER' reader"
fi
"$EXE" card simulate "$CARD_FILE" >"$WORKDIR/simulate.out" 2>&1 &
simulator_pid=$!
card_in() { "$EXE" card readers 2>/dev/null | grep "$VPCD_READER" | grep -qv "无卡\|no card"; }
for _ in $(seq 75); do card_in && break; kill -0 "$simulator_pid" 2>/dev/null || break; sleep 0.2; done
card_in || fail "the virtual card is not in '$VPCD_READER': $(cat "$WORKDIR/simulate.out"; "$EXE" card readers 2>&1)"
printf 'ok  virtual card inserted by the built `card simulate`\n'

gui_status=0
WI_COUNTER_AUTOLOGIN=cashier WI_COUNTER_EXIT_WHEN_CARD_READ=1 \
    timeout 120 "$EXE" gui --demo >"$WORKDIR/gui.out" 2>"$WORKDIR/gui.err" || gui_status=$?
holder=$(sed -n 's/^WI_COUNTER_CARD_READ //p' "$WORKDIR/gui.out")
if [[ $gui_status -ne 0 || -z $holder ]]; then
    fail "the built window did not read the card (exit $gui_status): $(cat "$WORKDIR/gui.out" "$WORKDIR/gui.err" | tail -20)"
fi
full_id=$(sed -n 's/.*"social_security_number": "\([0-9X]*\)".*/\1/p' "$CARD_FILE")
[[ $holder == "${full_id:0:6}********${full_id: -4}" ]] || fail "the window read '$holder', expected ${full_id:0:6}********${full_id: -4}"
# The log files (the demo's and the main one; not the databases, where the number belongs).
leaks=$(grep -rl --include='*.log*' "$full_id" "$WI_COUNTER_HOME" "$WORKDIR/gui.out" "$WORKDIR/gui.err" || true)
[[ -z $leaks ]] || fail "the full ID number appears unmasked in: $leaks"
grep -rq --include='*.log*' "${full_id:0:6}\*\{8\}${full_id: -4}" "$WI_COUNTER_HOME" \
    || fail "the log does not record the card read (masked ID number)"
printf 'ok  gui --demo (offscreen) read the card: %s\n' "$holder"

printf 'CHECK PASSED in %d s\n' "$(($(date +%s) - started))"
