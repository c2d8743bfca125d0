"""Fixtures for the workflow pages' tests: a demo counter talking to a real sandbox centre, main
windows for its operators (over the mock card reader unless a test brings pcscd + vpcd), and
stays made through the services (what the pages' own tests start from).

Import the fixtures into a test module: `from tests.ui.workflow_fixtures import centre_ctx, ...`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from app.bootstrap import CounterContext
from app.institution import InstitutionInfo
from app.operators import OperatorInfo
from devices.backends import BackendChoice
from devices.mock import MockBackend
from devices.monitor import read_card
from devices.virtual_card import CardPerson
from tests.centre.client_fixtures import SANDBOX_KEY, SandboxProcess, centre_today
from ui.card_reader import CardReaderService
from ui.main_window import MainWindow

WAIT_MS = 10_000
CENTRE_WAIT_MS = 30_000  # a settlement uploads, checks and settles: several centre calls

# 郑军: his filing names 广州, not 湛江 (docs/sandbox-centre.md) — refused at this hospital.
ZHENG_JUN = CardPerson(
    name="郑军", sex="男", social_security_number="441900199301270315", birth_date=dt.date(1993, 1, 27),
    region_code="441900", card_number="K44190015", generation=3, birthplace="441900",
    issue_date=dt.date(2025, 1, 27), expiry_date=dt.date(2035, 1, 27),
)

WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def workflow_sandbox(sandbox: SandboxProcess) -> SandboxProcess:
    """The test process's sandbox centre, its data fresh for this test (`tests.centre.client_fixtures`)."""
    return sandbox


@pytest.fixture
def centre_ctx(demo_ctx: CounterContext, workflow_sandbox: SandboxProcess) -> CounterContext:
    """The demo counter (operators cashier / reviewer) pointed at the sandbox, with its key."""
    from app.secret_store import CENTRE_KEY, set_secret
    from app.settings import CENTRE_READ_TIMEOUT_SECONDS, CENTRE_URL

    set_secret(CENTRE_KEY, SANDBOX_KEY)
    demo_ctx.settings.set(CENTRE_URL, workflow_sandbox.url)
    demo_ctx.settings.set(CENTRE_READ_TIMEOUT_SECONDS, 5)
    return demo_ctx


@pytest.fixture
def make_window(
    qtbot: QtBot,
    operator_of: Callable[[CounterContext, str], OperatorInfo],
    institution_of: Callable[[CounterContext], InstitutionInfo | None],
) -> Iterator[WindowFactory]:
    """`make(ctx, login, service=None)`: a shown main window; the mock reader unless a service is given."""
    windows: list[MainWindow] = []

    def make(ctx: CounterContext, login: str, service: CardReaderService | None = None,
             backend: MockBackend | None = None) -> MainWindow:
        if service is None:
            mock = backend or MockBackend()
            service = CardReaderService(BackendChoice(lambda: mock, read_card, None, "mock"))
        window = MainWindow(ctx, operator_of(ctx, login), institution_of(ctx), card_reader=service)
        qtbot.addWidget(window)
        window.resize(1400, 860)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.card_reader.stop()


def admit_through_service(ctx: CounterContext, operator: OperatorInfo, card: str, admission_no: str,
                          admitted_on: dt.date | None = None, emergency: bool = False) -> int:
    """A stay made the way the 入院登记 page makes it (for the later pages' tests): the worker
    looked up by card number, an injury and an illness diagnosis."""
    from app.composition import open_workflow_centre
    from tests.workflow.stay_fixtures import admit_worker, form

    client = open_workflow_centre(ctx, operator)
    try:
        _, outcome = admit_worker(ctx, client, operator, card,
                                  form(admission_no, admitted=admitted_on or centre_today() - dt.timedelta(days=5),
                                       emergency=emergency))
    finally:
        client.close()
    assert outcome.stay_id is not None, outcome.check
    return outcome.stay_id


def add_charges(ctx: CounterContext, operator: OperatorInfo, stay_id: int, count: int = 6) -> None:
    """Matched and classified fee lines, written directly as helper B's service tests do
    (tests/workflow/stay_fixtures.py): the 出院结算 page's tests start from a stay ready to settle."""
    from tests.workflow.stay_fixtures import add_lines

    add_lines(ctx, stay_id, operator, count, day=centre_today() - dt.timedelta(days=2))
