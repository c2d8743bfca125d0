"""Files and personal data (issue 22 item 7), whatever the umask.

Found: `slip --out` PDFs were 0644 (0666 under umask 000); under umask 000 the home folder was 0777
(another OS user swapped `config/`); the `--slip` / `--out` temporary file followed a planted symlink;
ID masking missed an ID touching ASCII letters; the centre call log kept e-card tokens and full IDs.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext, open_counter
from app.cli import main
from app.composition import ecard_lookup
from app.db.models import CentreCallLog, Settlement
from app.demo import DEMO_PASSWORD
from app.masking import mask_ids_in_text
from tests.centre.client_fixtures import ZHANG_WEI, counter, sandbox  # noqa: F401 - fixtures
from tests.signed_in import password_on_stdin
from tests.test_slips import SAMPLE

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's")
ZHANG_WEI_TOKEN = "ECARD-ZW-7F3A9C21"  # resources/sandbox/workers.toml


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(params=[0o000, 0o022], ids=["umask-000", "umask-022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield int(request.param)
    os.umask(previous)


def _demo_settlement(home: Path) -> int:
    context = open_counter(home=home, demo=True)
    try:
        with context.transaction() as session:
            return int(session.scalars(select(Settlement.id)).one())
    finally:
        context.close()


@posix_only
def test_slip_out_and_the_preview_slip_are_user_only(umask: int, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    settlement_id = _demo_settlement(home)
    out = tmp_path / "出院" / "slip.pdf"  # its folder is created too
    password_on_stdin(monkeypatch, DEMO_PASSWORD)  # the demo cashier signs in (issue 22 §1)
    assert main(["slip", str(settlement_id), "--out", str(out), "--operator", "cashier", "--password-stdin",
                 "--home", str(home), "--demo"]) == 0
    assert _mode(out) == 0o600 and _mode(out.parent) == 0o700
    preview = tmp_path / "preview.pdf"
    assert main(["settle", str(SAMPLE), "--slip", str(preview)]) == 0
    assert _mode(preview) == 0o600
    assert not [p for p in tmp_path.rglob(".*tmp*")], "no temporary file left behind"


@posix_only
def test_the_home_folder_and_its_folders_are_user_only(umask: int, tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    context = open_counter(home=home)
    try:
        paths = context.paths
        for folder in (home, home.parent, paths.config_dir, paths.data_dir, paths.log_dir, paths.backup_dir):
            assert _mode(folder) == 0o700, folder
        context.settings.save()
        assert _mode(paths.settings_file) == 0o600
    finally:
        context.close()


@posix_only
def test_the_claim_export_folder_is_user_only(umask: int, tmp_path: Path) -> None:
    from printing.claim_forms import export
    from tests.claims.forms_factory import claim_forms

    out = tmp_path / "月度申报" / "2026-11"
    written = export(claim_forms(details=2, devices=1), out)
    assert _mode(out) == 0o700 and _mode(out.parent) == 0o700
    assert {_mode(path) for path in written} == {0o600}


@posix_only
def test_a_loose_folder_of_ours_is_made_private_again(tmp_path: Path) -> None:
    """Folders left world-writable by an older version (umask 000) are tightened at start; a home folder
    someone chose (it may be their own home) is only closed to others' writes."""
    home = tmp_path / "home"
    for name in ("", "config", "data", "logs", "backups"):
        (home / name).mkdir(exist_ok=True)
        os.chmod(home / name, 0o777)
    context = open_counter(home=home)
    try:
        for name in ("config", "data", "logs", "backups"):
            assert _mode(home / name) == 0o700, name
        assert _mode(home) == 0o755
    finally:
        context.close()


@posix_only
def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    """Another user plants the temporary name as a symlink to a file of ours: it must stay untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own file")
    out = tmp_path / "preview.pdf"
    (tmp_path / f".{out.name}.tmp").symlink_to(victim)
    assert main(["settle", str(SAMPLE), "--slip", str(out)]) == 0
    assert victim.read_text() == "the user's own file"
    assert not out.is_symlink() and out.read_bytes().startswith(b"%PDF") and _mode(out) == 0o600


@pytest.mark.parametrize("text", [
    "ID440801199001011234X", "abc440801199001011234", "身份证号:440801199001011234结束", "No.44080119900101123Xok",
    "证号44080119900101123x。",
])
def test_an_id_touching_letters_is_masked(text: str) -> None:
    masked = mask_ids_in_text(text)
    assert "19900101" not in masked, masked
    assert "440801********" in masked


def test_longer_numbers_stay_readable() -> None:
    msgid = "H440801000012026112308000001"
    assert mask_ids_in_text(f"msgid {msgid}") == f"msgid {msgid}"


def test_the_call_log_keeps_no_ecard_token_and_no_full_id(counter: CounterContext) -> None:
    identity = ecard_lookup(counter, ("cashier", "张收款"))(ZHANG_WEI_TOKEN)
    assert identity.social_security_number == ZHANG_WEI  # the clerk still sees the holder
    with counter.transaction() as session:
        rows = session.scalars(select(CentreCallLog)).all()
        stored = json.dumps([[r.request, r.response, r.message] for r in rows], ensure_ascii=False)
    assert any(r.operation == "person_lookup" for r in rows)
    assert ZHANG_WEI_TOKEN not in stored and ZHANG_WEI not in stored
    assert "440802********1236" in stored  # masked, still useful to support


@posix_only
def test_writing_a_document_into_a_folder_the_clerk_chose_leaves_that_folder_alone(tmp_path: Path) -> None:
    """`--slip /tmp/slip.pdf` made /tmp 0700 (as root: every other user and the PostgreSQL server lost /tmp).
    The file is private; the existing folder it goes into is not ours to change."""
    from app.private_files import write_private

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    write_private(shared / "slip.pdf", b"%PDF-1.4")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "slip.pdf").stat().st_mode) == 0o600
    write_private(shared / "new" / "slip.pdf", b"%PDF-1.4")  # a folder it had to make is private
    assert stat.S_IMODE((shared / "new").stat().st_mode) == 0o700
