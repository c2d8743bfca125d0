"""`wi-counter card …`: list readers, read a card, plug a virtual card into vpcd.

Registered by app/cli/card.py (the command line, the composition root) and imported lazily there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from app.card_identity import CardIdentity
from app.settings import Settings

LABELS = (
    ("name", "姓名"), ("sex", "性别"), ("social_security_number", "社会保障号码"), ("birth_date", "出生日期"),
    ("nation", "民族"), ("birthplace", "出生地"), ("card_number", "卡号"), ("card_id", "卡识别码"),
    ("region_code", "发卡地区"), ("spec_version", "规范版本"), ("generation", "卡代"),
    ("issue_date", "发卡日期"), ("expiry_date", "卡有效期"),
)


def _settings(args: argparse.Namespace) -> Settings:
    from app.paths import resolve_paths

    return Settings.load(resolve_paths(args.home, demo=args.demo).settings_file)


def identity_text(identity: CardIdentity) -> str:
    document = identity.as_json()
    if identity.nation is not None:
        document["nation"] = f"{identity.nation_name}（{identity.nation}）"
    lines = [f"{label}：{document[key] if document[key] is not None else '（未读取）'}" for key, label in LABELS]
    return "\n".join(lines)


def readers(args: argparse.Namespace) -> int:
    from devices.backends import backend_from_settings

    choice = backend_from_settings(_settings(args))
    backend = choice.factory()
    try:
        names = backend.list_readers()
        if not names:
            print("未检测到读卡器 / no reader", file=sys.stderr)
            return 1
        states = {state.name: state.card_present for state in backend.wait_for_change([], 0)}
    finally:
        backend.close()
    for name in names:
        card = "有卡 / card present" if states.get(name) else "无卡 / empty"
        marker = "  （自动读卡 / watched）" if name == (choice.reader_name or names[0]) else ""
        print(f"{name}\t{card}{marker}")
    return 0


def read(args: argparse.Namespace) -> int:
    from devices.backends import backend_from_settings

    choice = backend_from_settings(_settings(args))
    backend = choice.factory()
    try:
        identity = choice.reader(backend, args.reader or choice.reader_name)
    finally:
        backend.close()
    if args.json:
        print(json.dumps(identity.as_json(), ensure_ascii=False, indent=2))
    else:
        print(identity_text(identity))
    if identity.is_expired():
        print(f"警告：卡已过有效期（有效期至 {identity.expiry_date}） / warning: the card has expired", file=sys.stderr)
    return 0


def _stop_on_signals() -> None:
    """Ctrl+C and `kill` both pull the card cleanly (a shell starts background jobs with
    SIGINT ignored, so demo.sh stops the simulator with SIGTERM)."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


def simulate(args: argparse.Namespace) -> int:
    from devices.virtual_card import CardPerson, VirtualCard, VpcdCardClient

    person = CardPerson.load(Path(args.person))
    _stop_on_signals()
    print(f"虚拟社保卡：{person.name}（第{person.generation}代）→ vpcd {args.host}:{args.port}；Ctrl+C 拔卡退出",
          file=sys.stderr, flush=True)
    client: VpcdCardClient | None = None
    waiting_said = False
    try:
        while True:
            if client is None or not client.connected:
                if client is not None:
                    client.remove()
                client = VpcdCardClient(VirtualCard(person), args.host, args.port)
                try:
                    client.insert()
                    print("已插卡 / card inserted", file=sys.stderr, flush=True)
                    waiting_said = False
                except ConnectionError as exc:
                    if not waiting_said:  # once, not every second
                        print(f"等待 vpcd / waiting for vpcd: {exc}", file=sys.stderr, flush=True)
                        waiting_said = True
                    client = None
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0
    finally:
        if client is not None:
            client.remove()


def reader_finding(settings: Settings) -> tuple[str, str, str]:
    """For `wi-counter doctor`: (level, what was found, what to do) about the reader and its card."""
    from app.card_identity import CardError
    from devices.backends import backend_from_settings

    choice = backend_from_settings(settings)
    try:
        backend = choice.factory()
    except CardError as exc:
        return ("error", f"读卡服务不可用：{exc.message}",
                "Windows：确认“Smart Card”服务已启动；Linux：安装并启动 pcscd（sudo systemctl start pcscd）")
    try:
        names = backend.list_readers()
        if not names:
            return ("error", "未检测到读卡器", "插好读卡器的 USB 线，装好厂商驱动后再试")
        watched = choice.reader_name or names[0]
        if choice.kind == "vendor":
            return ("ok", f"厂商读卡库已加载（{watched}）；有无卡片须读卡时才知道", "")
        states = {state.name: state.card_present for state in backend.wait_for_change([], 0)}
    except CardError as exc:
        return ("error", f"读卡器出错：{exc.message}", "重新插拔读卡器；仍不行请换一台")
    finally:
        backend.close()
    if states.get(watched):
        return ("ok", f"读卡器 {watched}，有卡", "")
    return ("warning", f"读卡器 {watched}，没有卡", "插入一张社保卡再检查一次，确认能读到")
