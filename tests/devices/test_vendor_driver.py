"""The vendor-driver back end, for real: gcc builds a tiny library that exports the
ministry's `iReadCardBas`, and the program loads it through its own ctypes code path."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest

from app.card_identity import BlankCard, MalformedCardData, VendorDriverError
from app.settings import CARD_BACKEND, CARD_VENDOR_ITYPE, CARD_VENDOR_LIBRARY, Settings
from devices.backends import backend_from_settings
from devices.vendor_driver import VendorDriver, parse_basic_info

# iType selects the answer: 1 a person, 2 an error with a GBK message, 3 a blank card,
# 4 an expired card; it also echoes iType so the test sees the setting arrive.
DRIVER_SOURCE = r"""
#include <string.h>
long iReadCardBas(int iType, char *pOutInfo) {
    switch (iType) {
    case 1:
        strcpy(pOutInfo, "440800|440802198503151236|A44080001|440800D15600000500BF7C7A48FB4966|"
                         "\xd5\xc5\xce\xb0|00814E43238697159900BF7C7A|3.00|20210601|20310601|410100813475|T01|");
        return 0;
    case 2:
        strcpy(pOutInfo, "\xce\xb4\xb2\xe5\xbf\xa8");  /* "no card inserted" in GBK */
        return -11;
    case 3:
        strcpy(pOutInfo, "440800||||||3.00|20210601|20310601|410100813475|T01|");
        return 0;
    default:
        strcpy(pOutInfo, "440800|440803199211300085|D44080004|440800D15600000500BF7C7A48FB4967|"
                         "\xb3\xc2\xc3\xf4|00814E43238697159900BF7C7A|2.00|20150630|20250630|410100813475|T01|");
        return 0;
    }
}
"""


def build_library(folder: Path, source_text: str) -> Path:
    """Compile `source_text` (C, bytes as latin-1) into a shared library with gcc."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("gcc is needed to build the test driver (scripts/setup.sh installs it)")
    source = folder / "sscard.c"
    source.write_bytes(source_text.encode("latin-1"))
    library = folder / "libsscard.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(library), str(source)], check=True, timeout=60)
    return library


@pytest.fixture(scope="module")
def driver_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_library(tmp_path_factory.mktemp("vendor"), DRIVER_SOURCE)


def test_reads_a_person_through_the_library(driver_library: Path) -> None:
    identity = VendorDriver(driver_library, itype=1).read()
    assert identity.name == "张伟"
    assert identity.social_security_number == "440802198503151236"
    assert identity.card_number == "A44080001"
    assert identity.region_code == "440800"
    assert identity.card_id == "440800D15600000500BF7C7A48FB4966"
    assert (identity.spec_version, identity.generation) == ("3.00", 3)
    assert identity.issue_date == dt.date(2021, 6, 1) and identity.expiry_date == dt.date(2031, 6, 1)
    # Not in the driver's output: derived from the ID number, or unknown.
    assert identity.sex == "男" and identity.birth_date == dt.date(1985, 3, 15)
    assert identity.nation is None and identity.birthplace is None
    assert identity.source == "vendor"


def test_driver_error_code_and_message(driver_library: Path) -> None:
    with pytest.raises(VendorDriverError) as caught:
        VendorDriver(driver_library, itype=2).read()
    assert caught.value.message == "读卡失败（厂商驱动错误 -11）：未插卡"


def test_blank_card_through_the_library(driver_library: Path) -> None:
    with pytest.raises(BlankCard):
        VendorDriver(driver_library, itype=3).read()


def test_expired_card_through_the_library(driver_library: Path) -> None:
    identity = VendorDriver(driver_library, itype=4).read()
    assert identity.name == "陈敏" and identity.is_expired(dt.date(2026, 1, 1))


def test_settings_choose_the_vendor_back_end(driver_library: Path, tmp_path: Path) -> None:
    settings = Settings(tmp_path / "settings.toml")
    settings.set(CARD_BACKEND, "vendor")
    settings.set(CARD_VENDOR_LIBRARY, str(driver_library))
    settings.set(CARD_VENDOR_ITYPE, 1)
    choice = backend_from_settings(settings)
    backend = choice.factory()
    assert choice.reader(backend, None).name == "张伟"


def test_missing_or_wrong_library(tmp_path: Path) -> None:
    with pytest.raises(VendorDriverError) as missing:
        VendorDriver(tmp_path / "nothing.so")
    assert "找不到厂商读卡驱动库" in missing.value.message
    not_a_library = tmp_path / "fake.so"
    not_a_library.write_text("not a library")
    with pytest.raises(VendorDriverError) as wrong:
        VendorDriver(not_a_library)
    assert "无法加载厂商读卡驱动库" in wrong.value.message


def test_library_without_the_function(tmp_path: Path) -> None:
    gcc = shutil.which("gcc") or "gcc"
    source = tmp_path / "empty.c"
    source.write_text("int something_else(void) { return 0; }\n")
    library = tmp_path / "libempty.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(library), str(source)], check=True, timeout=60)
    with pytest.raises(VendorDriverError) as caught:
        VendorDriver(library)
    assert "没有 iReadCardBas 函数" in caught.value.message


def test_spec_example_parses() -> None:
    # The example quoted from LD/T 6001.5 (../shared/CARD.md).
    example = "639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|张三|00814E43238697159900BF7C7A|1.00|20101001|20201001|410100813475|终端设备号|"
    identity = parse_basic_info(example.encode("gbk"))
    assert (identity.name, identity.card_number, identity.generation) == ("张三", "X00000019", 1)
    assert identity.birth_date == dt.date(1981, 1, 1) and identity.sex == "男"
    assert identity.expiry_date == dt.date(2020, 10, 1)


@pytest.mark.parametrize(
    "raw",
    [b"440800|440802198503151236|", "440800|440802198503151236|A1|X|张伟|R|3.00|2021xx01|20310601|".encode("gbk"), b"\xff\xfe|"],
)
def test_malformed_output_names_the_problem(raw: bytes) -> None:
    with pytest.raises(MalformedCardData):
        parse_basic_info(raw)


def test_cli_reads_through_the_vendor_driver(driver_library: Path, tmp_path: Path) -> None:
    import json

    from app.cli import main

    home = ["--home", str(tmp_path / "home")]
    assert main(["settings", "set", "card.backend", "vendor", *home]) == 0
    assert main(["settings", "set", "card.vendor_library", str(driver_library), *home]) == 0
    assert main(["settings", "set", "card.vendor_itype", "1", *home]) == 0
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["card", "read", "--json", *home]) == 0
    assert json.loads(out.getvalue())["social_security_number"] == "440802198503151236"

    assert main(["settings", "set", "card.vendor_itype", "2", *home]) == 0
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["card", "read", *home]) == 1
    assert "未插卡" in err.getvalue()
