"""The window brings its own CJK font (issue 24 §3): on a machine without Chinese fonts (a
Windows install without YaHei, a domestic Linux desktop, Wine) the text is drawn, not boxes.

The machine without Chinese fonts is a child process whose fontconfig sees only DejaVu (no
CJK glyphs); it runs the real `configure_application` and reports what Qt would draw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
TEXT = "工伤联网结算窗口张伟"

CHILD = r"""
import json, sys
from PySide6.QtGui import QFontMetrics, QImage, QPainter, QColor
from PySide6.QtWidgets import QApplication, QLabel
from ui.main import configure_application

text = sys.argv[1]
application = QApplication(["wi-counter"])

def covered(font):
    metrics = QFontMetrics(font)
    return all(metrics.inFontUcs4(ord(ch)) for ch in text)

before = covered(application.font())
configure_application(application)
label = QLabel(text)
label.setFont(application.font())
label.resize(label.sizeHint())
image = label.grab().toImage()
ink = sum(1 for x in range(image.width()) for y in range(image.height())
          if image.pixelColor(x, y).lightness() < 128)
print(json.dumps({"before": before, "family": application.font().family(),
                  "after": covered(label.font()), "ink": ink}))
"""


def test_chinese_is_drawn_with_the_bundled_font_where_no_chinese_font_is_installed(tmp_path: Path) -> None:
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    if not dejavu.is_dir():
        pytest.skip("DejaVu (fonts-dejavu-core) is not installed")
    (tmp_path / "fonts.conf").write_text(
        f"<?xml version='1.0'?><fontconfig><dir>{dejavu}</dir><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    env = dict(os.environ, FONTCONFIG_FILE=str(tmp_path / "fonts.conf"), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(REPO), WI_COUNTER_HOME=str(tmp_path / "home"))
    result = subprocess.run([sys.executable, "-c", CHILD, TEXT], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] is False  # the machine really has no Chinese font
    assert report["family"] == "WenQuanYi Micro Hei"  # the font the slips embed (resources/fonts/)
    assert report["after"] is True
    assert report["ink"] > 50
