"""Hostile card replies (issue 9 item 5): whatever a card — or something pretending to be one —
answers, reading ends in a verified identity or a `CardError` with a Chinese message.

Three levels: replies made up from nothing, a genuine card's replies mutated (bytes changed,
cut short, status words swapped, chained 61xx/6Cxx), and the decoded field values replaced."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.card_identity import CardError, CardIdentity
from devices.card_protocol import identity_from_records, read_identity
from devices.mock import MockTransport
from devices.transport import CardTransport
from devices.virtual_card import VirtualCard
from tests.devices.people import LI_NA, ZHANG_WEI
from tests.fuzz.support import fuzz_settings, judge, unexpected

pytestmark = pytest.mark.fuzz
TARGET = "card_reply"


class RandomCard(CardTransport):
    """Answers every command from a list of replies, then "record not found"."""

    def __init__(self, replies: list[tuple[bytes, int]]) -> None:
        self._replies = list(replies)

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        if self._replies:
            return self._replies.pop(0)
        return b"", 0x6A83

    def close(self) -> None:
        pass


def _genuine_replies(person: object) -> list[tuple[bytes, int]]:
    """What a genuine card answers, to be mutated by hypothesis."""
    replies: list[tuple[bytes, int]] = []

    class Recorder(CardTransport):
        def __init__(self) -> None:
            self.inner = MockTransport(VirtualCard(person))  # type: ignore[arg-type]

        def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
            reply = self.inner.send_and_receive(apdu)
            replies.append(reply)
            return reply

        def close(self) -> None:
            pass

    read_identity(Recorder())
    return replies


GENUINE = {"gen3": _genuine_replies(ZHANG_WEI), "gen2": _genuine_replies(LI_NA)}  # read by tag / by scanning
status_words = st.sampled_from([0x9000, 0x6A82, 0x6A83, 0x6A86, 0x6982, 0x6985, 0x6B00, 0x6F00, 0x6110, 0x6C05,
                                0x6100, 0x6C00, 0x61FF])
random_reply = st.tuples(st.binary(max_size=300), st.one_of(status_words, st.integers(0, 0xFFFF)))


def _read(replies: list[tuple[bytes, int]]) -> CardIdentity | CardError:
    outcome = judge(TARGET, lambda: read_identity(RandomCard(replies)), CardError)
    if isinstance(outcome, CardIdentity) and outcome.verified() != outcome:
        raise unexpected(TARGET, f"an identity that does not verify: {outcome}")
    return outcome


@fuzz_settings(300)
@given(st.lists(random_reply, max_size=40))
@example([(b"", 0x6110)] * 40)  # a card that keeps asking for GET RESPONSE
@example([(b"", 0x9000)] + [(b"\x01\xff" + b"\x00" * 16, 0x9000)] * 40)  # a length byte beyond the data
def test_made_up_replies(replies: list[tuple[bytes, int]]) -> None:
    _read(replies)


@fuzz_settings(400)
@given(st.sampled_from(sorted(GENUINE)), st.data())
def test_mutated_genuine_replies(generation: str, data: st.DataObject) -> None:
    replies = list(GENUINE[generation])
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        index = data.draw(st.integers(0, len(replies) - 1), label="reply")
        body, sw = replies[index]
        how = data.draw(st.sampled_from(["byte", "cut", "extend", "status", "chain"]), label="how")
        if how == "byte" and body:
            mutated = bytearray(body)
            mutated[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
            replies[index] = (bytes(mutated), sw)
        elif how == "cut":
            replies[index] = (body[: data.draw(st.integers(0, len(body)))], sw)
        elif how == "extend":
            replies[index] = (body + data.draw(st.binary(min_size=1, max_size=260)), sw)
        elif how == "status":
            replies[index] = (body, data.draw(status_words))
        else:  # the card asks for more (61xx) or for another Le (6Cxx) where it should have answered
            replies.insert(index, (body[:2], data.draw(st.sampled_from([0x6102, 0x6C05, 0x61FF]))))
    _read(replies)


GENUINE_VALUES = {reply[0]: reply[2: 2 + reply[1]] for reply, sw in GENUINE["gen3"] if sw == 0x9000 and len(reply) > 2}
_field_bytes = st.one_of(
    st.binary(max_size=34),
    st.sampled_from([b"", b"\x00" * 8, b"\xff" * 8, b"\x20\x26\x02\x30", b"\x99\x99\x99\x99", b"\x00\x00\x00\x00",
                     "张\u202e伟".encode("gb18030", errors="replace"), b"\x81\x30\x81\x30", b"\x0d\x0a",
                     b"44080219850315123X", b"440802198503151237"]),
)


@fuzz_settings(300)
@given(st.dictionaries(st.sampled_from(sorted(GENUINE_VALUES)), _field_bytes, min_size=1, max_size=5))
@example({0x0D: b"\x20\x26\x02\x30"})  # 30 February
@example({0x0B: b""})  # no 民族 byte at all
def test_replaced_field_values(changes: dict[int, bytes]) -> None:
    values = {**GENUINE_VALUES, **changes}
    outcome = judge(TARGET, lambda: identity_from_records(values), CardError)
    if isinstance(outcome, CardIdentity) and outcome.verified() != outcome:
        raise unexpected(TARGET, f"an identity that does not verify: {outcome}")
