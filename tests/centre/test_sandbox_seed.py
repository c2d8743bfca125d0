"""The sandbox centre's demo data set (resources/sandbox/*.toml, docs/sandbox-centre.md)."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path

import pytest

from app.centre import wire
from app.sandbox import seed, store
from app.sandbox.service import SandboxCentre
from app.centre.wire import Transaction as T
from app.errors import ConfigurationError
from app.idnumber import id_number_problem
from app.resources import resource_path
from app.rules.profiles import profile_names
from tests.centre.test_sandbox_service import KEY, Counter, admit, day, line

ICD10 = re.compile(r"[A-Z][0-9]{2}(\.[0-9]{1,3})?")
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _workers() -> list[dict[str, object]]:
    with resource_path("sandbox", "workers.toml").open("rb") as handle:
        return list(tomllib.load(handle)["worker"])


def test_at_least_twenty_workers_across_all_five_profiles_with_valid_ids() -> None:
    workers = _workers()
    assert len(workers) >= 20
    assert {w["profile"] for w in workers} == set(profile_names())
    for worker in workers:
        assert id_number_problem(str(worker["social_security_number"])) is None, worker["key"]


def test_the_four_demo_people_are_seeded_as_agreed_with_the_card_helper() -> None:
    """The demo people: same names, numbers, cards and places as the virtual cards."""
    by_key = {w["key"]: w for w in _workers()}
    expected = {
        "zhang-wei": ("张伟", "440802198503151236", "A44080001", "440800", "local"),
        "li-na": ("李娜", "440106199007224565", "B44010002", "440100", "guangdong-intra"),
        "wang-xiulan": ("王秀兰", "220102197801092349", "C22010003", "220100", "jilin-intra"),
        "chen-min": ("陈敏", "440803199211300085", "D44080004", "440800", "local"),
    }
    for key, (name, ssn, card, region, profile) in expected.items():
        worker = by_key[key]
        assert (worker["name"], worker["social_security_number"], worker["card"]["number"],  # type: ignore[index]
                worker["insured_place"]["city_code"], worker["profile"]) == (  # type: ignore[index]
            name, ssn, card, region, profile)
    assert by_key["chen-min"]["card"]["valid_until"] == "2025-06-30"  # type: ignore[index]
    assert by_key["zhang-wei"]["ecard_tokens"] and by_key["li-na"]["ecard_tokens"]


def test_recognitions_carry_icd10_diagnoses() -> None:
    diagnoses = [d for w in _workers() for r in w.get("recognition", []) for d in r["diagnoses"]]  # type: ignore[attr-defined]
    assert len(diagnoses) >= 20
    for diagnosis in diagnoses:
        assert ICD10.fullmatch(diagnosis["code"]) and diagnosis["name"], diagnosis


def test_catalogue_has_300_lines_in_five_categories_with_limits() -> None:
    with resource_path("sandbox", "catalogue.toml").open("rb") as handle:
        entries = tomllib.load(handle)["entries"]
    assert len(entries) >= 300 and len({e["code"] for e in entries}) == len(entries)
    by_category: dict[str, list[dict[str, object]]] = {}
    for entry in entries:
        by_category.setdefault(entry["category"], []).append(entry)
    assert set(by_category) == {"drug", "treatment", "consumable", "rehab", "device"}
    assert all(e["max_pay"] != "none" for e in by_category["device"])
    assert sum(e["price_limit"] != "none" for e in entries) >= 250


def test_the_demo_data_document_names_every_seeded_worker() -> None:
    document = (DOCS / "sandbox-centre.md").read_text(encoding="utf-8")
    for worker in _workers():
        assert f"`{worker['social_security_number']}`" in document, worker["key"]


def test_relative_seed_dates() -> None:
    today = dt.date(2026, 11, 23)
    assert seed.resolve_date("today-30", today, "x") == "2026-10-24"
    assert seed.resolve_date("today+7", today, "x") == "2026-11-30"
    assert seed.resolve_date("2025-06-30", today, "x") == "2025-06-30"
    assert seed.resolve_date("none", today, "x") is None
    with pytest.raises(ConfigurationError):
        seed.resolve_date("tomorrow", today, "x")


def test_seeding_happens_once(tmp_path: Path) -> None:
    connection = store.connect(tmp_path)
    assert seed.seed_if_new(connection, wire.now().date()) is True
    assert seed.seed_if_new(connection, wire.now().date()) is False
    assert connection.execute("SELECT count(*) FROM person").fetchone()[0] == len(_workers())
    connection.close()


def test_admitted_within_validity_settles_at_discharge(tmp_path: Path) -> None:
    """周强: admitted while the filing was valid, settled after it lapsed (000 §12, 001 §13)."""
    connection = store.connect(tmp_path)
    seed.seed_if_new(connection, wire.now().date())
    counter = Counter(SandboxCentre(connection, {"H44080100001": KEY}))
    counter.sign_no = counter.ok(T.SIGN_IN, {})["sign_no"]
    zhou = connection.execute("SELECT ssn FROM person WHERE name = '周强'").fetchone()[0]
    registration = admit(counter, zhou, admitted=-20,
                         diagnoses=[{"code": "S72.000", "name": "股骨颈骨折", "injury": True}])
    counter.ok(T.FEE_UPLOAD, {"registration_no": registration, "lines": [line(1, date=-19)]})
    settled = counter.ok(T.SETTLEMENT, {"registration_no": registration, "discharged": day(0)})
    reasons = {r["code"]: r["blocking"] for r in settled["verdict"]["reasons"]}
    assert reasons == {"ADMITTED_WITHIN_VALIDITY": False}
    connection.close()
