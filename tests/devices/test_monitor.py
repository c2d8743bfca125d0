"""The device thread: reader and card events, automatic reads, errors that never stop it."""

from __future__ import annotations

import queue
import threading

import pytest

from app.card_identity import CardError, NoCard, ReaderNotFound
from devices.mock import MOCK_READER, MockBackend
from devices.monitor import DEVICE_THREAD_NAME, DeviceMonitor, EventKind, MonitorEvent, read_card
from devices.transport import ReaderBackend
from devices.virtual_card import Fault, VirtualCard
from tests.devices.people import LI_NA, ZHANG_WEI

TIMEOUT = 5.0


class Events:
    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[MonitorEvent, str]] = queue.Queue()

    def __call__(self, event: MonitorEvent) -> None:
        self.queue.put((event, threading.current_thread().name))

    def next(self, *kinds: EventKind) -> MonitorEvent:
        """The next event of one of `kinds` (others skipped), received on the device thread."""
        while True:
            event, thread = self.queue.get(timeout=TIMEOUT)
            assert thread == DEVICE_THREAD_NAME
            if event.kind in kinds:
                return event


@pytest.fixture
def backend() -> MockBackend:
    return MockBackend()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def monitor(backend: MockBackend, events: Events) -> DeviceMonitor:
    device = DeviceMonitor(lambda: backend, events, wait_slice=0.05)
    device.start()
    yield device
    device.stop()
    assert not device.running


def test_card_inserted_is_read_automatically_and_removed_is_reported(
    monitor: DeviceMonitor, backend: MockBackend, events: Events
) -> None:
    first = events.next(EventKind.READERS)
    assert [(s.name, s.card_present) for s in first.readers] == [(MOCK_READER, False)]
    backend.insert(VirtualCard(ZHANG_WEI))
    assert events.next(EventKind.CARD_INSERTED).reader == MOCK_READER
    identity = events.next(EventKind.IDENTITY, EventKind.READ_FAILED).identity
    assert identity is not None and identity.name == "张伟"
    backend.remove()
    assert events.next(EventKind.CARD_REMOVED).reader == MOCK_READER


def test_reader_attached_and_removed(monitor: DeviceMonitor, backend: MockBackend, events: Events) -> None:
    events.next(EventKind.READERS)
    assert events.next(EventKind.READER_ATTACHED).reader == MOCK_READER  # present at start
    backend.attach("Second Reader")
    assert events.next(EventKind.READER_ATTACHED).reader == "Second Reader"
    backend.detach("Second Reader")
    assert events.next(EventKind.READER_REMOVED).reader == "Second Reader"


def test_only_the_watched_reader_is_read(backend: MockBackend, events: Events) -> None:
    backend.attach("Counter Reader")
    device = DeviceMonitor(lambda: backend, events, reader_name="Counter Reader", wait_slice=0.05)
    device.start()
    try:
        events.next(EventKind.READERS)
        backend.insert(VirtualCard(ZHANG_WEI), MOCK_READER)
        assert events.next(EventKind.CARD_INSERTED).reader == MOCK_READER
        backend.insert(VirtualCard(LI_NA), "Counter Reader")
        event = events.next(EventKind.IDENTITY, EventKind.READ_FAILED)
        assert event.reader == "Counter Reader" and event.identity is not None and event.identity.name == "李娜"
    finally:
        device.stop()


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.NOT_SSC, "该卡不是社会保障卡"),
        (Fault.BLANK, "空白卡"),
        (Fault.MALFORMED_TLV, "卡片数据格式错误（字段：姓名"),
        (Fault.TRUNCATED, "卡片数据格式错误（字段：社会保障号码"),
        (Fault.PSAM_WITHHELD, "需要PSAM鉴权才能读取"),
        (Fault.REMOVED_MID_READ, "读卡过程中卡片被拔出"),
    ],
)
def test_a_faulty_card_is_reported_and_the_thread_goes_on(
    monitor: DeviceMonitor, backend: MockBackend, events: Events, fault: Fault, message: str
) -> None:
    events.next(EventKind.READERS)
    backend.insert(VirtualCard(ZHANG_WEI.with_faults(fault)))
    failed = events.next(EventKind.READ_FAILED, EventKind.IDENTITY)
    assert failed.kind is EventKind.READ_FAILED and failed.error is not None
    assert message in failed.error.message
    backend.remove()
    events.next(EventKind.CARD_REMOVED)
    backend.insert(VirtualCard(LI_NA))
    identity = events.next(EventKind.IDENTITY, EventKind.READ_FAILED).identity
    assert identity is not None and identity.name == "李娜"


def test_slow_card_times_out_without_stopping_the_thread(events: Events) -> None:
    backend = MockBackend(timeout=0.05)
    device = DeviceMonitor(lambda: backend, events, wait_slice=0.05)
    device.start()
    try:
        events.next(EventKind.READERS)
        backend.insert(VirtualCard(LI_NA.with_faults(Fault.SLOW, delay=0.2)))
        failed = events.next(EventKind.READ_FAILED, EventKind.IDENTITY)
        assert failed.error is not None and "卡片无响应" in failed.error.message
        assert device.submit(lambda b: b.list_readers()).result(TIMEOUT) == [MOCK_READER]
    finally:
        device.stop()


def test_read_now_reads_again_on_the_device_thread(
    monitor: DeviceMonitor, backend: MockBackend, events: Events
) -> None:
    events.next(EventKind.READERS)
    with pytest.raises(NoCard):
        monitor.read_now().result(TIMEOUT)
    backend.insert(VirtualCard(LI_NA))
    events.next(EventKind.IDENTITY)
    assert monitor.read_now().result(TIMEOUT).name == "李娜"
    thread = monitor.submit(lambda b: threading.current_thread().name).result(TIMEOUT)
    assert thread == DEVICE_THREAD_NAME


def test_an_unexpected_exception_in_a_read_becomes_a_card_error(backend: MockBackend, events: Events) -> None:
    def broken(b: ReaderBackend, reader: str | None) -> object:
        raise ZeroDivisionError

    device = DeviceMonitor(lambda: backend, events, reader=broken, wait_slice=0.05)  # type: ignore[arg-type]
    device.start()
    try:
        events.next(EventKind.READERS)
        backend.insert(VirtualCard(LI_NA))
        failed = events.next(EventKind.READ_FAILED)
        assert isinstance(failed.error, CardError)
        assert device.running
    finally:
        device.stop()


def test_no_smart_card_service_is_reported_and_retried(events: Events) -> None:
    attempts: list[int] = []
    backend = MockBackend()

    def factory() -> ReaderBackend:
        attempts.append(1)
        if len(attempts) == 1:
            raise ReaderNotFound("智能卡服务未运行")
        return backend

    import devices.monitor as monitor_module

    original = monitor_module.RETRY_BACKEND
    monitor_module.RETRY_BACKEND = 0.05
    device = DeviceMonitor(factory, events, wait_slice=0.05)
    device.start()
    try:
        unavailable = events.next(EventKind.SERVICE_UNAVAILABLE)
        assert unavailable.error is not None and "未检测到读卡器" in unavailable.error.message
        assert events.next(EventKind.READERS).readers
    finally:
        device.stop()
        monitor_module.RETRY_BACKEND = original


def test_stop_is_prompt_and_pending_jobs_fail(backend: MockBackend, events: Events) -> None:
    device = DeviceMonitor(lambda: backend, events, wait_slice=0.05)
    device.start()
    device.stop(timeout=2)
    assert not device.running
    with pytest.raises(RuntimeError):
        device.submit(read_card).result(TIMEOUT)


def test_a_card_swapped_between_two_looks_is_read_as_a_new_card(
    monitor: DeviceMonitor, backend: MockBackend, events: Events
) -> None:
    events.next(EventKind.READERS)
    backend.insert(VirtualCard(ZHANG_WEI))
    first = events.next(EventKind.IDENTITY).identity
    assert first is not None and first.name == "张伟"
    backend.swap(VirtualCard(LI_NA))
    assert events.next(EventKind.CARD_REMOVED, EventKind.CARD_INSERTED).kind is EventKind.CARD_REMOVED
    assert events.next(EventKind.CARD_INSERTED).reader == MOCK_READER
    second = events.next(EventKind.IDENTITY, EventKind.READ_FAILED).identity
    assert second is not None and second.name == "李娜"
