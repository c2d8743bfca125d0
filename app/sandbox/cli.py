"""`wi-counter centre serve`: the sandbox centre's command (registered by app/cli/centre.py).

Kept free of the server's imports so that building the command line stays fast; aiohttp is
loaded only when the sandbox really starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DATA_FOLDER = "sandbox-centre"

FAULT_HELP = ("启动时预设故障（可多次给出） / arm a fault at start (repeatable): "
              "KIND[:INFNO][:times=N][:seconds=S][:err_code=C]; KIND = delay, error, drop_after_commit, "
              "malformed, refuse_connections, restart")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="监听地址；不加密时只允许本机地址 / address to bind; loopback only without TLS "
                             f"(default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"端口，0 为任选空闲端口 / port, 0 picks a free one (default {DEFAULT_PORT})")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="沙箱中心的数据文件夹（默认在本程序数据文件夹下） / the sandbox's data folder "
                             f"(default: DATA/{DATA_FOLDER})")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="TLS 证书 / TLS certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="TLS 私钥 / TLS private key (PEM)")
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC", help=FAULT_HELP)
    parser.add_argument("--latency", type=float, default=0.0, metavar="MS",
                        help="每次调用的往返延迟（毫秒），模拟广域网 / every call waits MS milliseconds in all "
                             "(half each way), like a WAN (default 0)")
    parser.add_argument("--jitter", type=float, default=0.0, metavar="MS",
                        help="延迟的随机抖动（±毫秒） / jitter: each call's delay varies by up to ± MS (default 0)")
    parser.add_argument("--reset", action="store_true",
                        help="删除沙箱数据库，重新生成演示数据 / delete the sandbox database and seed the demo data anew")
    # What the supervisor starts in the PyInstaller build, where `python -m` does not exist:
    # one server process, no supervisor, no restart (supervisor._child_arguments).
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)


def serve(args: argparse.Namespace) -> int:
    from app.sandbox.supervisor import SandboxError, supervise
    from app.paths import resolve_paths

    data_dir = args.data or resolve_paths(args.home, demo=args.demo).data_dir / DATA_FOLDER
    if args.child:
        from app.sandbox.server import main as serve_one

        argv = ["--host", args.host, "--port", str(args.port), "--data", str(data_dir)]
        if args.tls_cert:
            argv += ["--tls-cert", str(args.tls_cert), "--tls-key", str(args.tls_key)]
        for fault in args.fault:
            argv += ["--fault", fault]
        argv += ["--latency", str(args.latency), "--jitter", str(args.jitter)]
        return serve_one(argv)
    try:
        return supervise(args.host, args.port, data_dir, args.tls_cert, args.tls_key, args.fault, args.reset,
                         args.latency, args.jitter)
    except SandboxError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        return 2
