"""The 读卡 page: a card inserted shows the person, removed clears it (through pcscd + vpcd,
and over the mock reader for the warnings and errors); the e-card scan field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.card_identity import CardIdentity
from app.institution import InstitutionInfo
from app.operators import OperatorInfo
from devices.backends import BackendChoice
from devices.mock import MockBackend
from devices.monitor import read_card
from devices.pcsc import PcscBackend
from devices.virtual_card import Fault, VirtualCard
from tests.devices.conftest import InsertCard, pcscd, vpcd_card  # noqa: F401 - fixtures
from tests.devices.people import CHEN_MIN, LI_NA, ZHANG_WEI
from ui.card_reader import CardReaderService
from ui.main_window import MainWindow
from ui.pages.card_page import CardPage
from ui.qt import QLabel, QMessageBox, Qt

pytestmark = pytest.mark.gui

WAIT_MS = 5000

WindowFactory = Callable[[CardReaderService], MainWindow]


@pytest.fixture
def make_window(
    qtbot: QtBot,
    demo_ctx: CounterContext,
    operator_of: Callable[[CounterContext, str], OperatorInfo],
    institution_of: Callable[[CounterContext], InstitutionInfo | None],
) -> Iterator[WindowFactory]:
    windows: list[MainWindow] = []

    def make(service: CardReaderService) -> MainWindow:
        window = MainWindow(demo_ctx, operator_of(demo_ctx, "cashier"), institution_of(demo_ctx), card_reader=service)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.card_reader.stop()
        assert not window.card_reader.running


def _text(page: CardPage, key: str) -> str:
    return page.values[key].text()


def _status(window: MainWindow) -> QLabel:
    label = window.statusBar().findChild(QLabel, "readerStatus")
    assert label is not None
    return label


def test_card_in_the_virtual_reader_shows_the_person_and_removal_clears_it(
    qtbot: QtBot, make_window: WindowFactory, pcscd: str, vpcd_card: InsertCard  # noqa: F811
) -> None:
    service = CardReaderService(BackendChoice(PcscBackend, read_card, pcscd, "pcsc"))
    window = make_window(service)
    page = window.card_page
    assert window.current_page() is page
    qtbot.waitUntil(lambda: _status(window).text() == f"读卡器：{pcscd}（无卡）", timeout=WAIT_MS)
    assert page.status_label.text() == "请插入社保卡"

    client = vpcd_card(ZHANG_WEI)
    qtbot.waitUntil(lambda: _text(page, "name") == "张伟", timeout=WAIT_MS)
    assert _text(page, "social_security_number") == "440802198503151236"
    assert _text(page, "sex") == "男"
    assert _text(page, "birth_date") == "1985-03-15"
    assert _text(page, "spec_version") == "3.00（第3代）"
    assert _text(page, "nation") == "汉族"
    assert page.status_label.text() == "已读卡：张伟"
    assert page.identity is not None and page.identity.card_number == "A44080001"
    qtbot.waitUntil(lambda: _status(window).text() == f"读卡器：{pcscd}（有卡）", timeout=WAIT_MS)

    client.remove()
    qtbot.waitUntil(lambda: _text(page, "name") == "", timeout=WAIT_MS)
    assert page.identity is None
    assert all(label.text() == "" for label in page.values.values())
    assert page.status_label.text() == "请插入社保卡"
    assert page.removal_warning is None  # no settlement in progress: no warning


@pytest.fixture
def mock_reader() -> MockBackend:
    return MockBackend()


@pytest.fixture
def mock_window(make_window: WindowFactory, mock_reader: MockBackend) -> MainWindow:
    return make_window(CardReaderService(BackendChoice(lambda: mock_reader, read_card, None, "mock")))


def test_removal_during_a_settlement_warns(qtbot: QtBot, mock_window: MainWindow, mock_reader: MockBackend) -> None:
    page = mock_window.card_page
    mock_reader.insert(VirtualCard(LI_NA))
    qtbot.waitUntil(lambda: _text(page, "name") == "李娜", timeout=WAIT_MS)
    mock_window.settlement_in_progress = lambda: True  # what the workflow will set
    mock_reader.remove()
    qtbot.waitUntil(lambda: page.removal_warning is not None, timeout=WAIT_MS)
    assert page.identity is None
    assert page.removal_warning is not None and page.removal_warning.isVisible()
    assert "结算过程中社保卡被拔出" in page.removal_warning.text()
    assert "结算过程中社保卡被拔出" in page.warning_label.text()
    page.removal_warning.button(QMessageBox.StandardButton.Ok).click()


def test_expired_card_is_shown_and_flagged(qtbot: QtBot, mock_window: MainWindow, mock_reader: MockBackend) -> None:
    page = mock_window.card_page
    mock_reader.insert(VirtualCard(CHEN_MIN))
    qtbot.waitUntil(lambda: _text(page, "name") == "陈敏", timeout=WAIT_MS)
    assert page.expired_label.isVisible()
    assert page.expired_label.text().startswith("卡已过有效期（有效期至 2025-06-30）")


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.NOT_SSC, "该卡不是社会保障卡"),
        (Fault.PSAM_WITHHELD, "需要PSAM鉴权才能读取"),
        (Fault.BLANK, "空白卡"),
    ],
)
def test_a_card_that_cannot_be_read_says_why_and_shows_no_person(
    qtbot: QtBot, mock_window: MainWindow, mock_reader: MockBackend, fault: Fault, message: str
) -> None:
    page = mock_window.card_page
    mock_reader.insert(VirtualCard(ZHANG_WEI.with_faults(fault)))
    qtbot.waitUntil(lambda: message in page.error_label.text(), timeout=WAIT_MS)
    assert page.error_label.isVisible()
    assert page.identity is None and _text(page, "name") == ""
    # The reader keeps working: the next card reads.
    mock_reader.remove()
    qtbot.waitUntil(lambda: page.status_label.text() == "请插入社保卡", timeout=WAIT_MS)
    mock_reader.insert(VirtualCard(LI_NA))
    qtbot.waitUntil(lambda: _text(page, "name") == "李娜", timeout=WAIT_MS)
    assert not page.error_label.isVisible()


def test_no_reader(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(CardReaderService(BackendChoice(lambda: MockBackend({}), read_card, None, "mock")))
    qtbot.waitUntil(lambda: _status(window).text() == "读卡器：未检测到读卡器", timeout=WAIT_MS)
    assert window.card_page.status_label.text() == "未检测到读卡器"


def test_read_button_reads_again(qtbot: QtBot, mock_window: MainWindow, mock_reader: MockBackend) -> None:
    page = mock_window.card_page
    mock_reader.insert(VirtualCard(LI_NA))
    qtbot.waitUntil(lambda: _text(page, "name") == "李娜", timeout=WAIT_MS)
    page.show_identity(None)
    qtbot.mouseClick(page.read_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _text(page, "name") == "李娜", timeout=WAIT_MS)


def test_ecard_scan_without_a_lookup_says_the_lookup_is_not_available(
    qtbot: QtBot, mock_window: MainWindow
) -> None:
    page = mock_window.card_page
    page.person_lookup = None  # a page built without a centre (the window always gives one)
    qtbot.keyClicks(page.scan_field, "ECARD:0f3a9c")
    qtbot.keyClick(page.scan_field, Qt.Key.Key_Return)
    assert page.ecard_message.text() == "电子社保卡查询功能尚未提供（结算中心接口接入后可用）"
    assert page.scan_field.text() == ""
    assert page.identity is None


def test_ecard_token_goes_to_the_person_lookup_untouched(qtbot: QtBot, mock_window: MainWindow) -> None:
    page = mock_window.card_page
    tokens: list[str] = []
    person = CardIdentity(
        region_code="440800", social_security_number="440802198503151236", card_number="A44080001", card_id="",
        name="张伟", sex="男", nation=None, birthplace=None, birth_date=dt.date(1985, 3, 15),
        spec_version="3.00", issue_date=None, expiry_date=None, source="ecard",
    )

    def lookup(token: str) -> CardIdentity:
        tokens.append(token)
        return person

    page.person_lookup = lookup
    qtbot.keyClicks(page.scan_field, "01|A1B2|opaque token 9")
    qtbot.keyClick(page.scan_field, Qt.Key.Key_Enter)
    qtbot.waitUntil(lambda: _text(page, "name") == "张伟", timeout=WAIT_MS)
    assert tokens == ["01|A1B2|opaque token 9"]


def test_reader_and_card_events_arrive_as_qt_signals(qtbot: QtBot, make_window: WindowFactory) -> None:
    backend = MockBackend()
    service = CardReaderService(BackendChoice(lambda: backend, read_card, None, "mock"))
    make_window(service)
    qtbot.waitUntil(lambda: bool(service.readers), timeout=WAIT_MS)
    with qtbot.waitSignal(service.reader_attached, timeout=WAIT_MS) as attached:
        backend.attach("Second Reader")
    assert attached.args == ["Second Reader"]
    with qtbot.waitSignal(service.card_inserted, timeout=WAIT_MS) as inserted:
        backend.insert(VirtualCard(LI_NA), "Second Reader")
    assert inserted.args == ["Second Reader"]
    with qtbot.waitSignal(service.card_removed, timeout=WAIT_MS) as removed:
        backend.remove("Second Reader")
    assert removed.args == ["Second Reader"]
    with qtbot.waitSignal(service.reader_removed, timeout=WAIT_MS) as gone:
        backend.detach("Second Reader")
    assert gone.args == ["Second Reader"]


def test_vendor_driver_back_end_reads_on_the_button(
    qtbot: QtBot, make_window: WindowFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from app.settings import CARD_BACKEND, CARD_VENDOR_ITYPE, CARD_VENDOR_LIBRARY, Settings
    from devices.backends import backend_from_settings
    from tests.devices.test_vendor_driver import DRIVER_SOURCE, build_library

    settings = Settings(tmp_path_factory.mktemp("settings") / "settings.toml")
    settings.set(CARD_BACKEND, "vendor")
    settings.set(CARD_VENDOR_LIBRARY, str(build_library(tmp_path_factory.mktemp("driver"), DRIVER_SOURCE)))
    settings.set(CARD_VENDOR_ITYPE, 1)
    window = make_window(CardReaderService(backend_from_settings(settings)))
    page = window.card_page
    qtbot.waitUntil(lambda: "厂商读卡驱动" in page.status_label.text(), timeout=WAIT_MS)
    qtbot.mouseClick(page.read_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _text(page, "name") == "张伟", timeout=WAIT_MS)
    assert _text(page, "nation") == "" and _text(page, "sex") == "男"


def test_changed_reader_settings_take_effect_at_once(
    qtbot: QtBot,
    demo_ctx: CounterContext,
    operator_of: Callable[[CounterContext, str], OperatorInfo],
    institution_of: Callable[[CounterContext], InstitutionInfo | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from app.settings import CARD_BACKEND, CARD_VENDOR_ITYPE, CARD_VENDOR_LIBRARY
    from tests.devices.test_vendor_driver import DRIVER_SOURCE, build_library

    window = MainWindow(demo_ctx, operator_of(demo_ctx, "admin"), institution_of(demo_ctx))
    qtbot.addWidget(window)
    window.show()
    first = window.card_reader
    assert first.kind == "pcsc" and first.running
    demo_ctx.settings.set(CARD_BACKEND, "vendor")
    demo_ctx.settings.set(CARD_VENDOR_LIBRARY, str(build_library(tmp_path_factory.mktemp("driver"), DRIVER_SOURCE)))
    demo_ctx.settings.set(CARD_VENDOR_ITYPE, 1)
    window.settings_page.settings_saved.emit()
    assert window.card_reader is not first and window.card_reader.kind == "vendor"
    assert not first.running
    qtbot.waitUntil(lambda: "厂商读卡驱动" in window.card_page.status_label.text(), timeout=WAIT_MS)
    qtbot.mouseClick(window.card_page.read_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _text(window.card_page, "name") == "张伟", timeout=WAIT_MS)
    window.close()
    assert not window.card_reader.running


def test_ecard_scan_in_the_window_asks_the_centre_and_says_when_it_is_unreachable(
    qtbot: QtBot, mock_window: MainWindow, demo_ctx: CounterContext
) -> None:
    from app.settings import CENTRE_URL

    from tests.centre.client_fixtures import free_port

    # Nothing listens on this port: the lookup must fail fast with the centre's own message.
    demo_ctx.settings.set(CENTRE_URL, f"http://127.0.0.1:{free_port()}")
    page = mock_window.card_page
    qtbot.keyClicks(page.scan_field, "ECARD-ZW-7F3A9C21")
    qtbot.keyClick(page.scan_field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "结算中心" in page.ecard_message.text() and "正在查询" not in page.ecard_message.text(),
                    timeout=WAIT_MS)
    assert page.identity is None

