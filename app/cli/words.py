"""argparse's own words (usage, help headings, errors) in Chinese, beside the English (issue 24 §6).

The IT person at a counter reads what argparse prints when a command is mistyped. Python ships
no Chinese catalogue for argparse, and argparse looks its words up through the module-level
names `_` and `ngettext` at the moment it prints; `install()` points those two names at this
table. Words not in the table (a newer Python's new message) stay English: nothing breaks.
Written by hand because no maintained package translates argparse.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

# msgid (exactly as argparse writes it, placeholders kept) → "中文 / English".
WORDS: dict[str, str] = {
    "usage: ": "用法 / usage: ",
    "positional arguments": "位置参数 / positional arguments",
    "options": "选项 / options",
    "optional arguments": "选项 / options",
    "show this help message and exit": "显示本帮助并退出 / show this help and exit",
    "show program's version number and exit": "显示版本号并退出 / show the version and exit",
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误 / error: %(message)s\n",
    "the following arguments are required: %s": "缺少必需的参数 / missing required arguments: %s",
    "unrecognized arguments: %s": "无法识别的参数 / unrecognized arguments: %s",
    "invalid choice: %(value)r (choose from %(choices)s)":
        "无效的选择 / invalid choice: %(value)r（可选 / choose from %(choices)s）",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "expected one argument": "此处需要一个值 / expected one value",
    "expected at most one argument": "此处最多一个值 / expected at most one value",
    "expected at least one argument": "此处至少一个值 / expected at least one value",
    "invalid %(type)s value: %(value)r": "无效的 %(type)s 值 / invalid %(type)s value: %(value)r",
    "ambiguous option: %(option)s could match %(matches)s":
        "选项不明确 / ambiguous option: %(option)s 可能是 / could be %(matches)s",
    "one of the arguments %s is required": "以下参数须给出其一 / one of these is required: %s",
    "not allowed with argument %s": "不能与参数 %s 同时使用 / not allowed with %s",
    "ignored explicit argument %r": "多余的值被拒绝 / value not accepted: %r",
    "can't open '%(filename)s': %(error)s": "无法打开 / cannot open '%(filename)s'：%(error)s",
    "unknown parser %(parser_name)r (choices: %(choices)s)":
        "未知的子命令 / unknown command %(parser_name)r（可选 / choices: %(choices)s）",
}

PLURAL_WORDS: dict[str, str] = {
    "expected %s argument": "此处需要 %s 个值 / expected %s value(s)",
    "expected %s arguments": "此处需要 %s 个值 / expected %s value(s)",
}


def translate(message: str) -> str:
    return WORDS.get(message, message)


def translate_plural(singular: str, plural: str, count: int) -> str:
    chosen = singular if count == 1 else plural
    return PLURAL_WORDS.get(chosen, chosen)


def install(module: object = argparse) -> None:
    """Make argparse print this table's words from now on (idempotent)."""
    lookup: Callable[[str], str] = translate
    setattr(module, "_", lookup)
    setattr(module, "ngettext", translate_plural)
