"""Card reading benchmark, through the real stack: pyscard → pcscd → vsmartcard vpcd → virtual card.

1. Insertion to identity: the program's device monitor (devices/monitor.py, the same code the
   window uses) watches the vpcd reader; the virtual 3rd-generation card is plugged in after a
   random pause (0–0.5 s, so insertions fall at any point of pcscd's reader polling, as a
   clerk's would), and the time from plugging it in to the verified identity arriving at the
   listener is recorded. 25 measured insertions after 2 warm-ups; prints the median.
2. Overhead: with the card in, our full read (connect, select, read by tag with GET RESPONSE,
   decode, verify, release) against a bare pyscard loop sending exactly the same APDUs
   (recorded from our read) with pyscard's raw PC/SC calls (`smartcard.scard`: connect,
   transmit each, disconnect), 50 of each, interleaved in the same run; prints the ratio of
   the medians.

    python bench/card_read.py

Needs pcscd and vsmartcard-vpcd (scripts/setup.sh); starts pcscd when it is not running (root).
Output (one figure per line):
    BENCH card_insert_to_identity_median 210.4 ms (goal < 300)
    BENCH card_read_ratio 1.12 x (goal < 1.3)
Exit status 0 when measured, 1 when it could not measure.
"""

from __future__ import annotations

import queue
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.card_identity import CardIdentity  # noqa: E402
from devices.card_protocol import read_identity  # noqa: E402
from devices.monitor import DeviceMonitor, EventKind, MonitorEvent  # noqa: E402
from devices.pcsc import PcscBackend  # noqa: E402
from devices.transport import CardTransport  # noqa: E402
from devices.virtual_card import CardPerson, VirtualCard, VpcdCardClient  # noqa: E402

READER = "Virtual PCD 00 00"
INSERTIONS = 25
WARM_UP = 2
READS = 50
INSERT_GOAL_MS = 300
RATIO_GOAL = 1.3
EVENT_TIMEOUT = 10.0


class BenchError(Exception):
    pass


def ensure_pcscd() -> None:
    def up() -> bool:
        try:
            backend = PcscBackend()
        except Exception:
            return False
        try:
            return READER in backend.list_readers()
        finally:
            backend.close()

    if up():
        return
    pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
    if not Path(pcscd).exists():
        raise BenchError("pcscd is not installed (scripts/setup.sh)")
    subprocess.run([pcscd, "--auto-exit"], check=False, timeout=15)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if up():
            return
        time.sleep(0.1)
    raise BenchError("pcscd did not come up with the vpcd reader")


def person() -> CardPerson:
    return CardPerson.load(REPO / "resources" / "demo" / "cards" / "zhang-wei.json")


def insertion_times() -> list[float]:
    events: queue.Queue[tuple[float, MonitorEvent]] = queue.Queue()
    monitor = DeviceMonitor(PcscBackend, lambda event: events.put((time.perf_counter(), event)), reader_name=READER)
    monitor.start()

    def wait_for(*kinds: EventKind) -> tuple[float, MonitorEvent]:
        deadline = time.monotonic() + EVENT_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"no {kinds} within {EVENT_TIMEOUT} s")
            at, event = events.get(timeout=remaining)
            if event.kind in kinds:
                return at, event

    times: list[float] = []
    try:
        wait_for(EventKind.READERS)
        for run in range(WARM_UP + INSERTIONS):
            time.sleep(random.uniform(0.0, 0.5))
            client = VpcdCardClient(VirtualCard(person()))
            client.insert()
            at, event = wait_for(EventKind.IDENTITY, EventKind.READ_FAILED)
            if event.identity is None:
                raise BenchError(f"read failed: {event.error.message if event.error else '?'}")
            if run >= WARM_UP:
                times.append((at - client.inserted_at) * 1000)
            client.remove()
            wait_for(EventKind.CARD_REMOVED)
    finally:
        monitor.stop()
    return times


class Recording(CardTransport):
    def __init__(self, inner: CardTransport) -> None:
        self.inner = inner
        self.sent: list[list[int]] = []

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(list(apdu))
        return self.inner.send_and_receive(apdu)

    def close(self) -> None:
        self.inner.close()


def read_times() -> tuple[list[float], list[float]]:
    # The bare loop: pyscard's thinnest layer (the PC/SC calls themselves) on one context,
    # outside the program's code. Its high-level CardConnection opens a new PC/SC context on
    # every connect, which would flatter our figure.
    from smartcard import scard

    ours: list[float] = []
    bare: list[float] = []
    with VpcdCardClient(VirtualCard(person())):
        backend = PcscBackend()
        try:
            deadline = time.monotonic() + EVENT_TIMEOUT
            states: list = []
            while not any(s.name == READER and s.card_present for s in states):
                if time.monotonic() > deadline:
                    raise BenchError("the virtual card did not appear")
                states = backend.wait_for_change(states, 0.5)
            recording = Recording(backend.connect(READER))
            with recording:
                identity: CardIdentity = read_identity(recording)
            assert identity.name
            apdus = recording.sent
            _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            protocols = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
            def our_read() -> None:
                with backend.connect(READER) as transport:
                    read_identity(transport)

            def bare_read() -> None:
                code, card, protocol = scard.SCardConnect(context, READER, scard.SCARD_SHARE_SHARED, protocols)
                if code != scard.SCARD_S_SUCCESS:
                    raise BenchError(f"bare SCardConnect failed: {code:#x}")
                for apdu in apdus:
                    scard.SCardTransmit(card, protocol, apdu)
                scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)

            for index in range(READS):
                # Alternate which goes first, so neither always follows the other.
                pair = ((our_read, ours), (bare_read, bare))
                for work, into in pair if index % 2 == 0 else reversed(pair):
                    start = time.perf_counter()
                    work()
                    into.append((time.perf_counter() - start) * 1000)
            scard.SCardReleaseContext(context)
        finally:
            backend.close()
    return ours, bare


def main() -> int:
    try:
        ensure_pcscd()
        inserted = insertion_times()
        ours, bare = read_times()
    except (BenchError, OSError, queue.Empty) as exc:
        print(f"card_read: could not measure: {exc}", file=sys.stderr)
        return 1
    insert_median = statistics.median(inserted)
    ours_median = statistics.median(ours)
    bare_median = statistics.median(bare)
    print(f"BENCH card_insert_to_identity_median {insert_median:.1f} ms (goal < {INSERT_GOAL_MS})")
    print(f"BENCH card_insert_to_identity_max {max(inserted):.1f} ms (goal < {INSERT_GOAL_MS})")
    print(f"BENCH card_read_ratio {ours_median / bare_median:.2f} x (goal < {RATIO_GOAL})")
    print(f"BENCH card_full_read_median {ours_median:.2f} ms (goal < {INSERT_GOAL_MS})")
    print(f"BENCH card_bare_pyscard_median {bare_median:.2f} ms (goal < {INSERT_GOAL_MS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
