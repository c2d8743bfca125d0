from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.logging_setup import TRACE, configure_logging
from app.masking import mask_id_number, mask_ids_in_text

ID = "440802198001011233"


def test_mask_id_number_keeps_region_and_last_four() -> None:
    assert mask_id_number(ID) == "440802********1233"
    assert mask_id_number("44080219800101123X") == "440802********123X"
    assert mask_id_number("440802800101123") == "440802******123"


def test_ids_inside_text_are_masked_but_longer_numbers_are_left_alone() -> None:
    text = f"读卡成功 {ID}，姓名 姚某某；msgid H440801000012026112308000000001"
    masked = mask_ids_in_text(text)
    assert ID not in masked
    assert "440802********1233" in masked
    assert "H440801000012026112308000000001" in masked


@given(st.from_regex(r"\A[1-9][0-9]{16}[0-9X]\Z"), st.text(alphabet="姓名：, ;", max_size=5))
def test_any_18_character_id_is_masked(id_number: str, around: str) -> None:
    masked = mask_ids_in_text(f"{around}{id_number}{around}")
    assert id_number not in masked
    assert f"{id_number[:6]}********{id_number[-4:]}" in masked


@pytest.fixture
def log_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "logs" / "wi-counter.log"
    configure_logging(path, "INFO")
    yield path
    configure_logging(tmp_path / "logs" / "after.log", "WARNING")


def test_the_log_file_never_holds_an_unmasked_id(log_file: Path) -> None:
    log = logging.getLogger("wi_counter.test")
    log.info("worker %s admitted", ID)
    log.info(f"formatted before logging: {ID}")
    try:
        raise ValueError(f"bad card {ID}")
    except ValueError:
        log.exception("read failed")
    content = log_file.read_text(encoding="utf-8")
    assert ID not in content
    assert content.count("440802********1233") == 3  # %-argument, f-string, the exception line of the traceback


def test_trace_is_below_debug_and_off_by_default(log_file: Path) -> None:
    assert TRACE < logging.DEBUG
    logging.getLogger("wi_counter.apdu").log(TRACE, "00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
    assert "00A40400" not in log_file.read_text(encoding="utf-8")


def test_log_file_is_private(log_file: Path) -> None:
    logging.getLogger("x").warning("hello")
    assert (log_file.stat().st_mode & 0o077) == 0


@pytest.mark.real_migrations  # the chatter is the chain's own (Alembic's "Running upgrade ..." lines)
@pytest.mark.parametrize(("level", "chatter_logged"), [("INFO", False), ("DEBUG", True)])
def test_migration_chatter_is_debug_not_info(level: str, chatter_logged: bool, tmp_path: Path) -> None:
    """Issue 24 §6: the log at INFO says what the database went from and to, not every Alembic step."""
    from sqlalchemy import create_engine

    from app.db.migrate import upgrade

    path = tmp_path / "logs" / "wi-counter.log"
    configure_logging(path, level)
    try:
        engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
        upgrade(engine)
        engine.dispose()
        text = path.read_text(encoding="utf-8")
    finally:
        configure_logging(tmp_path / "logs" / "after.log", "WARNING")
    assert ("Running upgrade" in text) is chatter_logged
    assert "升级到" in text  # our own line: from which revision to which
