"""The case files of `tests/cases/` against the contract of `../shared/CASES.md`.

Each `NAME.json` has a hand-derived `NAME.expected.json`:

- a valid case: `{"description", "check": {"admission": …, "discharge": …}, "settle": …}` with
  the expected `--json` output of each command that applies (no `settled`, no discharge/settle);
- an invalid case: `{"description", "exit": 2, "commands": [...], "problem_paths": [...]}`,
  optionally `"unclassified_seqs"` and a `"check"` block for the commands that still work.

Reasons are compared by code and blocking only (message and source are free text, but must
be present); reasons are compared as a set, since CASES.md does not fix their order. Item
`reason` texts are ignored; everything else must match exactly.

The --json comparisons run `app.cli.main` in-process (fast); `test_real_process` runs the
real `python -m app` for a handful of cases and checks it answers exactly as in-process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli import main

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "cases"
STAGES = ("admission", "discharge")
BUCKETS = ("fund", "over_limit", "self_pay", "non_injury")
CATEGORIES = ("drug", "treatment", "consumable", "rehab", "device")
ALL_REASON_CODES = {
    "NO_RECOGNITION", "INSURANCE_TERMINATED", "CONTRIBUTION_ARREARS", "THIRD_PARTY_LIABILITY",
    "NOT_DIRECT_SETTLEMENT_INSTITUTION", "NO_FILING", "FILING_CANCELLED", "FILING_TERMINATED",
    "WRONG_DESTINATION", "CARE_NOT_COVERED", "FILING_NOT_YET_VALID", "FILING_EXPIRED",
    "FILED_AFTER_ADMISSION", "ADMITTED_WITHIN_VALIDITY", "FILING_ALREADY_USED", "REFERRAL_WINDOW_PASSED",
    "EMERGENCY_BACKFILE_REQUIRED", "EMERGENCY_BACKFILED", "ON_THE_SPOT_FILED",
}
SEED_SOURCE = re.compile(r"^00[0-4] \S")  # e.g. "003 §10", "002 经办规程 §15"


def _case_files() -> list[Path]:
    return sorted(p for p in CASES.glob("*.json") if not p.name.endswith(".expected.json"))


def _expected(case: Path) -> dict[str, Any]:
    return json.loads(case.with_name(case.stem + ".expected.json").read_text(encoding="utf-8"))


ALL = _case_files()
VALID = [p for p in ALL if "exit" not in _expected(p)]
INVALID = [p for p in ALL if "exit" in _expected(p)]


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _argv(command: str, case: Path) -> list[str]:
    """`check --stage admission` / `settle` → argv for the case."""
    words = command.split()
    return [words[0], str(case), *words[1:]]


def _check_argv(stage: str, case: Path, as_json: bool = True) -> list[str]:
    return ["check", str(case), "--stage", stage, *(["--json"] if as_json else [])]


def _settle_argv(case: Path, as_json: bool = True) -> list[str]:
    return ["settle", str(case), *(["--json"] if as_json else [])]


def _run_inprocess(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _run_process(argv: list[str]) -> tuple[int, str, str]:
    result = subprocess.run([sys.executable, "-m", "app", *argv], cwd=REPO, capture_output=True, text=True,
                            encoding="utf-8", timeout=60, env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    return result.returncode, result.stdout, result.stderr


# --- comparisons ---------------------------------------------------------------------


def _reason_key(reason: dict[str, Any]) -> tuple[str, bool]:
    return reason["code"], reason["blocking"]


def _assert_verdict(actual: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    assert set(actual) == {"stage", "allowed", "settlement_kind", "reasons"}, where
    for key in ("stage", "allowed", "settlement_kind"):
        assert actual[key] == expected[key], f"{where}: {key} is {actual[key]!r}, expected {expected[key]!r}"
    got = sorted(_reason_key(r) for r in actual["reasons"])
    want = sorted(_reason_key(r) for r in expected["reasons"])
    assert got == want, f"{where}: reasons {got}, expected {want}"
    for reason in actual["reasons"]:
        assert isinstance(reason.get("message"), str) and reason["message"].strip(), f"{where}: {reason}"
        assert isinstance(reason.get("source"), str) and SEED_SOURCE.match(reason["source"]), f"{where}: {reason}"
    assert actual["allowed"] == (not any(r["blocking"] for r in actual["reasons"])), where


def _assert_settlement(actual: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    assert set(actual) == {"settlement_kind", "matrix", "total", "fund_total", "personal_total", "items"}, where
    for key in ("settlement_kind", "total", "fund_total", "personal_total"):
        assert actual[key] == expected[key], f"{where}: {key} is {actual[key]!r}, expected {expected[key]!r}"
    for bucket in BUCKETS:
        assert actual["matrix"].get(bucket) == expected["matrix"][bucket], (
            f"{where}: matrix.{bucket} is {actual['matrix'].get(bucket)}, expected {expected['matrix'][bucket]}")
    assert set(actual["matrix"]) == set(BUCKETS), where
    got = {item["seq"]: (item["bucket"], item["fund"], item["personal"]) for item in actual["items"]}
    assert len(got) == len(actual["items"]), f"{where}: a seq appears twice in items"
    want = {item["seq"]: (item["bucket"], item["fund"], item["personal"]) for item in expected["items"]}
    for seq in sorted(set(got) | set(want)):
        assert got.get(seq) == want.get(seq), f"{where}: item seq {seq} is {got.get(seq)}, expected {want.get(seq)}"
    assert all(isinstance(item.get("reason"), str) for item in actual["items"]), where


def _assert_invalid(code: int, out: str, err: str, paths: list[str], as_json: bool, where: str) -> dict[str, Any]:
    assert code == 2, f"{where}: exit {code}, expected 2; stderr: {err}"
    assert err.strip(), f"{where}: nothing on stderr"
    for path in paths:
        assert path in err, f"{where}: stderr does not name {path}: {err}"
    if not as_json:
        assert out.strip() == "", f"{where}: a partial answer was printed: {out}"
        return {}
    document = json.loads(out)
    assert isinstance(document.get("error"), str) and document["error"].strip(), where
    assert isinstance(document.get("problems"), list) and document["problems"], where
    reported = [problem["path"] for problem in document["problems"]]
    assert all(isinstance(p.get("message"), str) and p["message"].strip() for p in document["problems"]), where
    for path in paths:
        assert path in reported, f"{where}: {path} not among the reported paths {reported}"
    for key in ("matrix", "items", "total", "allowed", "reasons", "settlement_kind"):
        assert key not in document, f"{where}: partial answer ({key}) in {document}"
    return document


# --- valid cases ---------------------------------------------------------------------


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_check(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _expected(case)
    assert "admission" in expected["check"], "every valid case has an admission verdict"
    for stage, verdict in expected["check"].items():
        assert verdict["stage"] == stage
        code, out, err = _run_inprocess(capsys, _check_argv(stage, case))
        assert code == 0, f"{case.name} --stage {stage}: exit {code}: {err}"
        _assert_verdict(json.loads(out), verdict, f"{case.name} --stage {stage}")


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_settle(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _expected(case)
    if "settle" not in expected:
        # No `settled`: the discharge check and the settlement refuse, naming $.stay.settled.
        assert "discharge" not in expected["check"]
        for argv in (_check_argv("discharge", case), _settle_argv(case)):
            code, out, err = _run_inprocess(capsys, argv)
            _assert_invalid(code, out, err, ["$.stay.settled"], True, f"{case.name} {argv[0]}")
        return
    code, out, err = _run_inprocess(capsys, _settle_argv(case))
    assert code == 0, f"{case.name} settle: exit {code}: {err}"
    _assert_settlement(json.loads(out), expected["settle"], f"{case.name} settle")


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_plain_text_output(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _expected(case)
    for stage, verdict in expected["check"].items():
        code, out, err = _run_inprocess(capsys, _check_argv(stage, case, as_json=False))
        assert code == 0, err
        assert ("可以直接结算" if verdict["allowed"] else "不能直接结算") in out, out
        for reason in verdict["reasons"]:
            assert reason["code"] in out, out
    if "settle" in expected:
        code, out, err = _run_inprocess(capsys, _settle_argv(case, as_json=False))
        assert code == 0, err
        settle = expected["settle"]
        assert "合计本次" in out, out
        assert settle["settlement_kind"] in out, out
        for figure in (settle["total"], settle["fund_total"], settle["personal_total"]):
            assert figure in out, f"{figure} not in {out}"


# --- invalid cases -------------------------------------------------------------------


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_invalid_case(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _expected(case)
    assert expected["exit"] == 2 and expected["commands"] and expected["problem_paths"]
    for command in expected["commands"]:
        where = f"{case.name} {command}"
        for as_json in (True, False):
            argv = _argv(command, case) + (["--json"] if as_json else [])
            code, out, err = _run_inprocess(capsys, argv)
            document = _assert_invalid(code, out, err, expected["problem_paths"], as_json, where)
            if as_json and "unclassified_seqs" in expected:
                by_path = {p["path"]: p["message"] for p in document["problems"]}
                for path, seq in zip(expected["problem_paths"], expected["unclassified_seqs"], strict=True):
                    assert re.search(rf"(?<![0-9]){seq}(?![0-9])", by_path[path]), f"{where}: seq {seq} not named"
    for stage, verdict in expected.get("check", {}).items():
        code, out, err = _run_inprocess(capsys, _check_argv(stage, case))
        assert code == 0, f"{case.name} --stage {stage}: exit {code}: {err}"
        _assert_verdict(json.loads(out), verdict, f"{case.name} --stage {stage}")


# --- the real process, for a handful -------------------------------------------------

REAL_PROCESS = ["guangdong-sample-slip", "jilin-emergency-backfiled", "no-filing", "invalid-money-as-number",
                "invalid-unclassified-line"]


@pytest.mark.parametrize("name", REAL_PROCESS)
def test_real_process(name: str) -> None:
    """`python -m app` as a subprocess: exit codes and output as the contract says."""
    case = CASES / f"{name}.json"
    expected = _expected(case)
    if "exit" in expected:
        for command in expected["commands"]:
            code, out, err = _run_process(_argv(command, case) + ["--json"])
            _assert_invalid(code, out, err, expected["problem_paths"], True, f"{name} {command} (process)")
            code, out, err = _run_process(_argv(command, case))
            _assert_invalid(code, out, err, expected["problem_paths"], False, f"{name} {command} (process)")
        return
    for stage, verdict in expected["check"].items():
        code, out, err = _run_process(_check_argv(stage, case))
        assert code == 0, err
        _assert_verdict(json.loads(out), verdict, f"{name} --stage {stage} (process)")
        code, out, err = _run_process(_check_argv(stage, case, as_json=False))
        assert code == 0 and ("可以直接结算" if verdict["allowed"] else "不能直接结算") in out, err
    if "settle" in expected:
        code, out, err = _run_process(_settle_argv(case))
        assert code == 0, err
        _assert_settlement(json.loads(out), expected["settle"], f"{name} settle (process)")
        code, out, err = _run_process(_settle_argv(case, as_json=False))
        assert code == 0 and "合计本次" in out, err


# --- the corpus covers the contract --------------------------------------------------


def test_every_case_has_an_expected_file_and_a_description() -> None:
    for case in ALL:
        expected = _expected(case)
        assert expected.get("description", "").strip(), case.name
        assert re.search(r"00[0-4] |CASES\.md", expected["description"]), f"{case.name}: cite a seed article"
    orphans = {p.name.removesuffix(".expected.json") for p in CASES.glob("*.expected.json")} - {p.stem for p in ALL}
    assert not orphans, orphans


def test_the_cases_exercise_every_reason_code_and_bucket() -> None:
    seen_codes: set[tuple[str, str, bool]] = set()
    buckets: dict[str, set[str]] = {bucket: set() for bucket in BUCKETS}
    for case in ALL:
        expected = _expected(case)
        for stage, verdict in expected.get("check", {}).items():
            seen_codes |= {(r["code"], stage, r["blocking"]) for r in verdict["reasons"]}
        if "settle" in expected:
            for bucket in BUCKETS:
                for category in CATEGORIES:
                    if expected["settle"]["matrix"][bucket][category] != "0.00":
                        buckets[bucket].add(category)
    assert {code for code, _, _ in seen_codes} == ALL_REASON_CODES
    # The emergency back-filing reason is a hint at admission and blocks at discharge.
    assert ("EMERGENCY_BACKFILE_REQUIRED", "admission", False) in seen_codes
    assert ("EMERGENCY_BACKFILE_REQUIRED", "discharge", True) in seen_codes
    # Guangdong's on-the-spot filing (003 §5) is a discharge note, never FILED_AFTER_ADMISSION.
    assert ("ON_THE_SPOT_FILED", "discharge", False) in seen_codes
    assert all(buckets.values()), buckets
    assert "device" in buckets["over_limit"] and "rehab" in buckets["fund"]
    assert (CASES / "guangdong-sample-slip.json").exists()
