"""Qt's own dialogs in Chinese (issue 20 §8, §11): the message box's buttons and the file dialog
(Look in / Files of type were English: qtbase's zh_CN catalogue lacks them)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ui.main import install_qt_translations
from ui.qt import QApplication, QFileDialog, QLabel, QMessageBox, QTranslator

pytestmark = pytest.mark.gui


@pytest.fixture
def translators(qapp: QApplication) -> Iterator[list[QTranslator]]:
    installed = install_qt_translations(qapp)
    yield installed
    for translator in installed:
        qapp.removeTranslator(translator)


def test_message_box_buttons_are_chinese(translators: list[QTranslator]) -> None:
    box = QMessageBox()
    box.setStandardButtons(QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel)
    assert sorted(button.text() for button in box.buttons()) == sorted(["确定", "取消"])


def test_file_dialog_is_chinese_throughout(translators: list[QTranslator]) -> None:
    dialog = QFileDialog()
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    texts = [label.text() for label in dialog.findChildren(QLabel) if label.text()]
    words = [re.sub(r"\(&\w\)", "", text) for text in texts]  # the mnemonic (&L) aside
    assert texts and not any(re.search("[A-Za-z]", word) for word in words), texts
    assert any(text.startswith("查找范围") for text in texts) and any(text.startswith("文件类型") for text in texts)
