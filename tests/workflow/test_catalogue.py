"""The local copy of the centre's catalogue (`003 §3`, `003 §27`): downloaded page by page since the local
version from the real sandbox centre over HTTP, withdrawn entries kept as invalid, lines whose HIS code has
become a catalogue code matched; the demo counter's seed."""

from __future__ import annotations

import datetime as dt
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.bootstrap import CounterContext, open_counter
from app.centre.client import CentreClient
from app.db.models import Care, CatalogueItem, ChargeCategory, ChargeLine, Institution, Stay, Worker
from app.resources import resource_path
from app.workflow import catalogue
from app.workflow.catalogue import catalogue_entries, local_version, seed_demo_catalogue, sync_catalogue
from app.workflow.charges import add_line
from tests import factories
from tests.centre.client_fixtures import (  # noqa: F401 - fixtures
    SandboxProcess,
    client,
    counter,
    sandbox,
)
from tests.signed_in import signed_in


def _sandbox_entries() -> list[dict[str, object]]:
    with resource_path("sandbox", "catalogue.toml").open("rb") as handle:
        entries: list[dict[str, object]] = tomllib.load(handle)["entries"]
    return entries


def test_sync_downloads_every_page_then_only_what_changed(counter: CounterContext, client: CentreClient,
                                                          sandbox: SandboxProcess,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogue, "PAGE_SIZE", 100)  # several pages from the seed's entries
    expected = _sandbox_entries()
    assert sync_catalogue(counter, client) == len(expected)
    with counter.transaction() as session:
        assert local_version(session) == 1
        entries = catalogue_entries(session)
        assert set(entries) == {e["code"] for e in expected}
        aspirin = entries["XB01AC06"]
        assert (aspirin.name, aspirin.category, aspirin.unit, aspirin.price_limit) == (
            "阿司匹林肠溶片", ChargeCategory.DRUG, "片", Decimal("0.50"))

    assert sync_catalogue(counter, client) == 0  # nothing new since version 1
    with counter.transaction() as session:
        line_id = _line_with_hospital_code(session, "ZZ0001")

    sandbox.admin("POST", "/admin/catalogue", {"entries": [
        {"code": "XB01AC06", "name": "阿司匹林肠溶片", "category": "drug", "unit": "片", "price_limit": "0.45"},
        {"code": "XN02BE01", "name": "对乙酰氨基酚片", "category": "drug", "unit": "片", "valid": False},
        {"code": "ZZ0001", "name": "新增康复评定", "category": "rehab", "unit": "次", "price_limit": "80.00"},
    ]})
    assert sync_catalogue(counter, client) == 3
    with counter.transaction() as session:
        assert local_version(session) == 2
        entries = catalogue_entries(session, ["XB01AC06", "XN02BE01", "ZZ0001"])
        assert set(entries) == {"XB01AC06", "ZZ0001"}  # the withdrawn one is no longer valid
        assert entries["XB01AC06"].price_limit == Decimal("0.45")
        withdrawn = session.scalars(select(CatalogueItem).where(CatalogueItem.code == "XN02BE01")).one()
        assert (withdrawn.valid, withdrawn.version) == (False, 2)
        assert session.scalar(select(func.count()).select_from(CatalogueItem)) == len(expected) + 1
        # The line whose HIS code has just become a catalogue code matches now (`003 §27`).
        line = session.get(ChargeLine, line_id)
        assert line is not None and (line.code, line.category) == ("ZZ0001", ChargeCategory.REHAB)


def _line_with_hospital_code(session: Session, his_code: str) -> int:
    """An open stay at the counter's institution with one line whose code the catalogue does not know yet."""
    hospital = session.scalars(select(Institution)).one()
    clerk = factories.operator(session)
    worker = Worker(social_security_number="440802198503151236", name="张伟", sex="男", insured_province="广东省",
                    insured_city="湛江市", insured_city_code="440800")
    session.add(worker)
    session.flush()
    stay = Stay(worker_id=worker.id, institution_id=hospital.id, profile="local", care=Care.MEDICAL,
                admission_no="ZY0001", dept="康复科", admitted_on=dt.date(2026, 11, 2), created_by=clerk.id)
    session.add(stay)
    session.flush()
    actor = signed_in(clerk)
    line_id = add_line(session, actor, "窗口1", stay.id, his_code=his_code, name="新增康复评定", category=None,
                       quantity=Decimal("1"), unit_price=Decimal("80"), charged_on=dt.date(2026, 11, 3),
                       diagnosis_code="S82.201", reason="HIS 漏传")
    assert session.get(ChargeLine, line_id).code is None  # type: ignore[union-attr]
    return line_id


def test_demo_counter_has_the_sandbox_catalogue(tmp_path: Path) -> None:
    ctx = open_counter(home=tmp_path / "demo-home", demo=True)
    try:
        with ctx.transaction() as session:
            entries = catalogue_entries(session)
            assert len(entries) == len(_sandbox_entries())
            assert entries["C0104001003"].category == ChargeCategory.CONSUMABLE
            assert seed_demo_catalogue(session) == 0  # only when empty
    finally:
        ctx.close()


def test_cli_catalogue_sync(counter: CounterContext, sandbox: SandboxProcess, db_url: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    home = counter.paths.config_dir.parent
    assert main(["charges", "catalogue", "--sync", "--home", str(home), "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert f"{len(_sandbox_entries())} 条变更" in out and "local version 1" in out
    assert main(["charges", "catalogue", "--home", str(home), "--db", db_url]) == 0
    assert f"valid entries {len(_sandbox_entries())}" in capsys.readouterr().out


def test_the_catalogue_is_searched_by_what_an_item_is_called(db_url: str, tmp_path: Path) -> None:
    """目录对照 (003 §27): the clerk finds the catalogue code by the item's name, not from memory. Every
    word must be in the name (any order), or the one word starts a code; codes first, then the plainest
    names; withdrawn entries never; the typed text is bounded and LIKE's wildcards are plain letters."""
    ctx = open_counter(home=tmp_path / "home", db_url=db_url)
    with ctx.transaction() as session:
        seed_demo_catalogue(session)
        session.add(CatalogueItem(code="XW99_OLD", name="注射用头孢旧规格", category=ChargeCategory.DRUG,
                                  valid=False, version=1))
    with ctx.transaction() as session:
        found = catalogue.search_catalogue(session, "头孢")
        assert found and all("头孢" in match.name for match in found)
        assert "XW99_OLD" not in {match.code for match in found}
        assert [len(match.name) for match in found] == sorted(len(match.name) for match in found)
        both = catalogue.search_catalogue(session, "注射液  盐酸")
        assert {"XN02AA01", "XN01BB01", "XN01BB09"} <= {m.code for m in both}  # 盐酸吗啡注射液, ...
        assert all("注射液" in m.name and "盐酸" in m.name for m in both)
        assert {m.code for m in both} < {m.code for m in catalogue.search_catalogue(session, "注射液")}
        by_code = catalogue.search_catalogue(session, "xj01dd")  # any case, a prefix
        assert {m.code for m in by_code} == {"XJ01DD04", "XJ01DD01"}
        exact = catalogue.search_catalogue(session, "XB01AC06")
        assert exact[0].code == "XB01AC06" and exact[0].name == "阿司匹林肠溶片"
        assert exact[0].category is ChargeCategory.DRUG and exact[0].price_limit == Decimal("0.50")
        percent = catalogue.search_catalogue(session, "%")  # a wildcard is a character, not "anything"
        assert percent and all("%" in m.name for m in percent)  # 医用乙醇(75%)
        assert all("_" in m.name or m.code.startswith("_") for m in catalogue.search_catalogue(session, "_"))
        assert catalogue.search_catalogue(session, "   ") == []
        assert catalogue.search_catalogue(session, "头孢" * 10_000) == []  # cut to 64 characters, no match
        assert len(catalogue.search_catalogue(session, "片", limit=5)) == 5
    ctx.close()
