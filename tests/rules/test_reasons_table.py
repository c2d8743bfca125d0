"""Messages true where they are read (issue 23 item 6): each reason's next step is valid in the case's
region at that stage, its source is that region's article (or the national rule it follows), and
`docs/reasons.md` is the table the code gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.rules.case import read_case_file
from app.rules.profiles import load_profile
from app.rules.reasons_table import DISCHARGE_ONLY, applicable_codes, blocking, render, rows
from app.rules.verdict import judge

REPO = Path(__file__).resolve().parents[2]
ROWS = rows()
GUANGDONG_SERVICES = ("粤省事", "粤商通", "广东人社", "广东省人力资源和社会保障厅")
FILING_CODES = {"NO_FILING", "FILING_CANCELLED", "FILING_TERMINATED", "WRONG_DESTINATION", "CARE_NOT_COVERED",
                "FILING_NOT_YET_VALID", "FILING_EXPIRED", "FILED_AFTER_ADMISSION", "FILING_ALREADY_USED"}
# Whose articles a region's reasons may rest on: its own seed, or the national rule it follows.
REGION_SEEDS = {"guangdong-intra": ("003",), "jilin-intra": ("002",), "beijing-cross": ("001", "000"),
                "national-cross": ("000",), "local": ("003",)}
# Where the fund pays nothing for care without a filing made as required, a message must not promise a
# reimbursement at home: 000 §15 (national pilot), 002 经办规程 §15 (Jilin; only an emergency not
# back-filed in time is claimed at home).
FUND_PAYS_NOTHING_UNFILED = ("national-cross", "jilin-intra")


def test_docs_reasons_md_is_the_table_the_code_gives() -> None:
    """Regenerate with `python -m app.rules.reasons_table > docs/reasons.md`."""
    assert (REPO / "docs" / "reasons.md").read_text(encoding="utf-8") == render()


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.region}-{r.code}-{r.stage}" for r in ROWS])
def test_every_reason_has_a_next_step_true_in_its_region_and_stage(row) -> None:  # type: ignore[no-untyped-def]
    assert row.next_step.strip(), "every reason tells the clerk what to do next"
    assert row.source.startswith(REGION_SEEDS[row.region]), f"{row.source} is not a {row.region} article"
    profile = load_profile(row.region)
    if not profile.on_the_spot_filing:
        # Only Guangdong's online services, and only where the worker files on the spot (003 §5, §10).
        assert not any(service in row.next_step for service in GUANGDONG_SERVICES), row.next_step
        if row.stage == "discharge" and row.code in FILING_CODES:
            # Filing now cannot help a stay already admitted (001 §17, 000 §15, 002 经办规程 §15).
            for wording in ("当场", "现场", "重新核验", "再办理入院"):
                assert wording not in row.next_step, row.next_step
    if row.region in FUND_PAYS_NOTHING_UNFILED and row.code in FILING_CODES:
        assert "报销" not in row.next_step, row.next_step


def test_guangdong_guides_the_worker_to_file_online_now_at_both_stages() -> None:
    """003 §5 (last sentence), §10, §11: file online on the spot, then check again."""
    profile = load_profile("guangdong-intra")
    for stage in ("admission", "discharge"):
        step = profile.next_step("NO_FILING", stage)
        assert "粤省事" in step and "当场" in step and "重新核验" in step
    assert "FILED_AFTER_ADMISSION" not in applicable_codes(profile)


def _case_files() -> list[Path]:
    return sorted(p for p in (REPO / "tests" / "cases").glob("*.json") if not p.name.endswith(".expected.json"))


@pytest.mark.parametrize("path", _case_files(), ids=lambda p: p.stem)
def test_every_verdict_message_is_its_rows_next_step(path: Path) -> None:
    """The code gives what the table says: for every case file's verdicts, each reason is a row of its
    region and stage, blocking as the row says, its message ending with the row's next step."""
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text(encoding="utf-8"))
    if "exit" in expected and "check" not in expected:
        return
    case = read_case_file(path)
    table = {(r.region, r.code, r.stage): r for r in ROWS}
    for stage in ("admission", "discharge"):
        if stage == "discharge" and case.stay.settled is None:
            continue
        for reason in judge(case, stage).reasons:
            row = table.get((case.profile.name, reason.code, stage))
            assert row is not None, f"{reason.code} at {stage} is not in the table for {case.profile.name}"
            assert reason.blocking is row.blocking is blocking(case.profile, reason.code, stage)
            assert reason.next_step == row.next_step and reason.message.endswith(row.next_step)
            assert reason.source == row.source
            assert not (stage == "admission" and reason.code in DISCHARGE_ONLY)
