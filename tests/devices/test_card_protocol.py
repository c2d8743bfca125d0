"""The card protocol over the mock transport: both generations, every faulty card, 61xx/6Cxx,
the checks on what was read, and random replies (hypothesis)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from app.card_identity import (
    BlankCard,
    CardIdentity,
    CardNotResponding,
    CardRemoved,
    MalformedCardData,
    NoCard,
    NotSocialSecurityCard,
    PsamRequired,
    ReaderNotFound,
)
from app.logging_setup import TRACE
from devices.card_protocol import SELECT_SSSE, CardSession, read_identity
from devices.mock import MockBackend, MockTransport
from devices.transport import CardTransport, masked_hex
from devices.virtual_card import CardPerson, Fault, VirtualCard
from tests.devices.people import CHEN_MIN, LI_NA, ZHANG_WEI


def read(person: CardPerson, timeout: float | None = None) -> CardIdentity:
    with MockTransport(VirtualCard(person), timeout=timeout) as transport:
        return read_identity(transport)


def test_third_generation_card_reads_every_field() -> None:
    identity = read(ZHANG_WEI)
    assert identity.name == "张伟"
    assert identity.sex == "男"
    assert identity.social_security_number == "440802198503151236"
    assert identity.birth_date == dt.date(1985, 3, 15)
    assert identity.card_number == "A44080001"
    assert identity.region_code == "440800"
    assert identity.card_id.startswith("440800") and len(identity.card_id) == 32
    assert identity.nation == "01" and identity.nation_name == "汉族"
    assert identity.birthplace == "440802"
    assert (identity.spec_version, identity.generation) == ("3.00", 3)
    assert identity.issue_date == dt.date(2021, 6, 1)
    assert identity.expiry_date == dt.date(2031, 6, 1)


def test_second_generation_card_is_scanned_by_record_number() -> None:
    card = VirtualCard(LI_NA)
    with MockTransport(card) as transport:
        identity = read_identity(transport)
    assert (identity.name, identity.sex, identity.generation) == ("李娜", "女", 2)
    assert identity.birth_date == dt.date(1990, 7, 22)
    # It refused reading by identifier, so the reader fell back to record numbers.
    assert card.commands > 13


def test_record_numbers_differ_between_generations_but_tags_do_not() -> None:
    gen2 = VirtualCard(LI_NA)._files[0x06]
    gen3 = VirtualCard(ZHANG_WEI)._files[0x06]
    assert [r[0] for r in gen2].index(0x0A) != [r[0] for r in gen3].index(0x0A)
    assert read(ZHANG_WEI.with_faults(generation=2)).name == "张伟"
    assert read(LI_NA.with_faults(generation=3, spec_version="3.00")).name == "李娜"


def test_wrong_le_is_resent_with_the_length_the_card_asks_for() -> None:
    assert read(LI_NA.with_faults(Fault.WRONG_LE)).name == "李娜"
    assert read(ZHANG_WEI.with_faults(Fault.WRONG_LE)).name == "张伟"


def test_not_a_social_security_card() -> None:
    with pytest.raises(NotSocialSecurityCard) as caught:
        read(ZHANG_WEI.with_faults(Fault.NOT_SSC))
    assert "该卡不是社会保障卡" in caught.value.message


def test_blank_card_is_reported_as_blank_not_as_a_person() -> None:
    for person in (ZHANG_WEI, LI_NA):
        with pytest.raises(BlankCard) as caught:
            read(person.with_faults(Fault.BLANK))
        assert "空白卡" in caught.value.message


def test_malformed_tlv_names_the_field() -> None:
    with pytest.raises(MalformedCardData) as caught:
        read(ZHANG_WEI.with_faults(Fault.MALFORMED_TLV))
    assert caught.value.field == "姓名"
    assert "卡片数据格式错误（字段：姓名" in caught.value.message


def test_malformed_tlv_on_a_scanned_card_leaves_the_name_missing() -> None:
    with pytest.raises(MalformedCardData) as caught:
        read(LI_NA.with_faults(Fault.MALFORMED_TLV))
    assert caught.value.field == "姓名"


def test_truncated_record() -> None:
    for person in (ZHANG_WEI, LI_NA):
        with pytest.raises(MalformedCardData) as caught:
            read(person.with_faults(Fault.TRUNCATED))
        assert caught.value.field == "社会保障号码"
        assert "截断" in caught.value.message


def test_fields_withheld_without_psam() -> None:
    for person in (ZHANG_WEI, LI_NA):
        with pytest.raises(PsamRequired) as caught:
            read(person.with_faults(Fault.PSAM_WITHHELD))
        assert "需要PSAM鉴权才能读取" in caught.value.message


def test_third_generation_card_with_empty_name_without_psam_is_partly_unreadable() -> None:
    with pytest.raises(PsamRequired) as caught:
        read(ZHANG_WEI.with_faults(Fault.PSAM_EMPTY))
    assert "姓名" in caught.value.message


def test_second_generation_card_with_empty_name_is_malformed() -> None:
    with pytest.raises(MalformedCardData) as caught:
        read(LI_NA.with_faults(Fault.PSAM_EMPTY))
    assert caught.value.field == "姓名"


def test_slow_card_within_the_timeout_reads() -> None:
    assert read(LI_NA.with_faults(Fault.SLOW, delay=0.001), timeout=1.0).name == "李娜"


def test_slow_card_beyond_the_timeout_does_not_respond() -> None:
    with pytest.raises(CardNotResponding) as caught:
        read(LI_NA.with_faults(Fault.SLOW, delay=0.2), timeout=0.05)
    assert "卡片无响应" in caught.value.message


def test_card_removed_mid_read() -> None:
    with pytest.raises(CardRemoved) as caught:
        read(ZHANG_WEI.with_faults(Fault.REMOVED_MID_READ, remove_after=3))
    assert "读卡过程中卡片被拔出" in caught.value.message


def test_expired_card_still_identifies_the_person_and_is_flagged() -> None:
    identity = read(CHEN_MIN)
    assert identity.name == "陈敏"
    assert identity.is_expired(dt.date(2026, 1, 1))
    assert not identity.is_expired(dt.date(2025, 6, 30))


def test_ssse_under_a_ddf_is_found_after_selecting_the_mf() -> None:
    class SsseUnderMf(VirtualCard):
        mf_selected = False

        def transmit(self, apdu: bytes) -> bytes:
            if apdu == SELECT_SSSE and not self.mf_selected:
                return b"\x6A\x82"
            if apdu[:4] == bytes.fromhex("00A40000"):
                self.mf_selected = True
            return super().transmit(apdu)

    with MockTransport(SsseUnderMf(ZHANG_WEI)) as transport:
        assert read_identity(transport).name == "张伟"


def test_get_response_collects_chained_data() -> None:
    class Scripted(CardTransport):
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
            self.sent.append(apdu)
            if apdu[1] == 0xC0 and len(self.sent) == 2:
                return b"\x01\x02", 0x6102
            if apdu[1] == 0xC0:
                return b"\x03\x04", 0x9000
            return b"", 0x6102

        def close(self) -> None:
            pass

    transport = Scripted()
    assert CardSession(transport).command(bytes.fromhex("00B2012C00")) == (b"\x01\x02\x03\x04", 0x9000)
    assert transport.sent[1:] == [bytes.fromhex("00C0000002")] * 2


def test_a_card_that_keeps_asking_for_more_ends_in_a_typed_error() -> None:
    class Endless(CardTransport):
        def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
            return b"", 0x6C10

        def close(self) -> None:
            pass

    with pytest.raises(CardNotResponding):
        CardSession(Endless()).command(bytes.fromhex("00B2012C00"))


def test_mock_backend_reader_and_card_errors() -> None:
    with pytest.raises(ReaderNotFound) as no_reader:
        MockBackend({}).connect()
    assert "未检测到读卡器" in no_reader.value.message
    with pytest.raises(NoCard) as no_card:
        MockBackend().connect()
    assert no_card.value.message == "请插入社保卡"


def test_apdu_trace_is_below_debug_and_masks_id_numbers(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="devices.apdu"):
        read(ZHANG_WEI)
    assert not caplog.records, "APDUs must not appear at DEBUG"
    with caplog.at_level(TRACE, logger="devices.apdu"):
        read(ZHANG_WEI)
    text = caplog.text
    assert "00 A4 04 00 0F" in text
    assert "34 34 30 38 30 32 ** ** ** ** ** ** ** ** 31 32 33 36" in text  # 440802********1236
    assert "31 39 38 35 30 33 31 35" not in text  # the birth date digits inside the ID
    assert "440802198503151236" not in text


def test_masked_hex_leaves_other_bytes_alone() -> None:
    assert masked_hex(b"\x90\x00") == "90 00"
    assert masked_hex(b"\x08\x12" + b"440802198503151236").startswith("08 12 34 34 30 38 30 32 **")


# Random and mutated card replies: tests/fuzz/test_fuzz_card_reply.py (hostile input, counted).


def test_apdu_trace_in_the_log_file_only_at_trace_level(tmp_path: Path) -> None:
    from app.logging_setup import configure_logging

    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    try:
        for level, expect_apdus in (("DEBUG", False), ("TRACE", True)):
            log_file = tmp_path / f"{level}.log"
            configure_logging(log_file, level=level)
            read(ZHANG_WEI)
            text = log_file.read_text(encoding="utf-8")
            assert ("00 A4 04 00 0F" in text) is expect_apdus
            assert "440802198503151236" not in text
            if expect_apdus:
                assert "34 34 30 38 30 32 ** ** ** ** ** ** ** ** 31 32 33 36" in text
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(saved_level)
