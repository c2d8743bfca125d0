"""Policy profiles are data: every parameter with its source; a new region is a new file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.errors import ConfigurationError
from app.rules import profiles
from app.rules.verdict import judge
from tests.rules.base_case import base_case, parsed

EXPECTED = {"local", "guangdong-intra", "jilin-intra", "beijing-cross", "national-cross"}


def test_the_five_profiles_exist_with_a_source_for_every_parameter() -> None:
    assert set(profiles.profile_names()) == EXPECTED
    for name in EXPECTED:
        profile = profiles.load_profile(name)
        for parameter in profiles._PARAMETERS:
            assert profile.source_of(parameter).split()[0] in {"000", "001", "002", "003", "004"}


def test_the_regions_differ_as_the_seeds_say() -> None:
    guangdong = profiles.load_profile("guangdong-intra")
    assert guangdong.referral_window_days == 60 and guangdong.source_of("referral_window_days").startswith("003 §10")
    assert guangdong.monthly_claim_day == 10  # 003 §21
    jilin = profiles.load_profile("jilin-intra")
    assert jilin.checks_contribution and jilin.emergency_backfiling and jilin.monthly_claim_day == 5  # 002 经办规程 §17 §15 §21
    assert profiles.load_profile("national-cross").one_time_referral  # 000 §10
    beijing = profiles.load_profile("beijing-cross")
    assert (beijing.long_term_validity_months, beijing.referral_validity_months) == (12, 6)  # 001 §12
    assert not profiles.load_profile("local").requires_filing


def test_a_sixth_region_is_a_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resources = tmp_path / "resources"
    shutil.copytree(Path(profiles.resource_path(profiles.PROFILE_DIR)), resources / "profiles")
    text = (resources / "profiles" / "guangdong-intra.toml").read_text(encoding="utf-8")
    text = text.replace('name = "guangdong-intra"', 'name = "hainan-intra"')
    text = text.replace("referral_window_days = { value = 60", "referral_window_days = { value = 30")
    (resources / "profiles" / "hainan-intra.toml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(profiles, "resource_path", lambda *parts: resources.joinpath(*parts))
    profiles.load_profile.cache_clear()
    try:
        case = base_case()
        case["profile"] = "hainan-intra"
        case["stay"].update({"admitted": "2020-10-22", "discharged": None, "settled": None})  # 31 days after approval
        assert judge(parsed(case), "admission").codes == ["REFERRAL_WINDOW_PASSED"]
    finally:
        profiles.load_profile.cache_clear()


def test_a_broken_profile_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "broken.toml").write_text('name = "broken"\nrequires_filing = true\n', encoding="utf-8")
    monkeypatch.setattr(profiles, "resource_path", lambda *parts: tmp_path.joinpath(*parts))
    profiles.load_profile.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="broken.toml"):
            profiles.load_profile("broken")
    finally:
        profiles.load_profile.cache_clear()
