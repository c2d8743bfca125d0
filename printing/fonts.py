"""The CJK font every printed document embeds: WenQuanYi Micro Hei (Apache-2.0, `resources/fonts/`).

reportlab embeds TrueType (glyf) fonts as subsets, so a slip carries the glyphs it uses
and looks the same on a machine with no Chinese font. Loading the 5 MB collection takes
about 0.15 s; it is done once per process and later documents reuse it.
"""

from __future__ import annotations

import functools
import threading

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from app.errors import ConfigurationError
from app.resources import resource_path

CJK_FONT = "WenQuanYiMicroHei"
FONT_FILE = ("fonts", "wqy-microhei.ttc")
_FACE = 0  # face 1 of the collection is the monospaced "Micro Hei Mono"
_lock = threading.Lock()


@functools.cache
def _register() -> str:
    path = resource_path(*FONT_FILE)
    if not path.is_file():
        raise ConfigurationError(f"找不到结算单字体文件 {path}，请重新安装程序。")
    pdfmetrics.registerFont(TTFont(CJK_FONT, str(path), subfontIndex=_FACE))
    return CJK_FONT


def cjk_font() -> str:
    """The registered font's name (registering it at the first call)."""
    with _lock:  # the window may render on a worker thread while the CLI-style code runs
        return _register()
