"""`wi-counter card readers|read|simulate`: the social security card reader (issue 3).

The card layer (`devices.cli`) is imported inside each handler, so no other command loads it.
"""

from __future__ import annotations

import argparse

from app.cli.common import CommandLine, usage


def register(cli: CommandLine) -> None:
    cli.group("card", "社保卡读卡器 / the social security card reader", usage("wi-counter card {readers,read,simulate}"))
    cli.action("card", "readers", "列出读卡器及有无插卡 / list readers and whether a card is in", _card_readers)
    card_read = cli.action("card", "read", "读取社保卡 / read the social security card", _card_read)
    card_read.add_argument("--reader", metavar="NAME", help="读卡器名称，默认按设置或第一台 / reader name")
    card_read.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    card_simulate = cli.action(
        "card", "simulate",
        "把虚拟社保卡插入 vpcd 虚拟读卡器（演示、培训），Ctrl+C 结束 / plug a virtual card into vpcd until interrupted",
        _card_simulate,
    )
    card_simulate.add_argument("person", metavar="PERSON.json", help="持卡人文件，见 resources/demo/cards/ / card holder file")
    card_simulate.add_argument("--host", default="127.0.0.1", help="vpcd 地址 / vpcd host")
    card_simulate.add_argument("--port", type=int, default=35963, help="vpcd 端口（35963 = Virtual PCD 00 00） / vpcd port")


def _card_readers(args: argparse.Namespace) -> int:
    from devices import cli as card_cli  # the card reader layer, loaded only for card commands

    return card_cli.readers(args)


def _card_read(args: argparse.Namespace) -> int:
    from devices import cli as card_cli

    return card_cli.read(args)


def _card_simulate(args: argparse.Namespace) -> int:
    from devices import cli as card_cli

    return card_cli.simulate(args)
