from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.errors import ConfigurationError
from app.settings import (
    ALL_SETTINGS,
    COUNTER_NAME,
    DATABASE_URL,
    LOG_KEEP_FILES,
    LOG_LEVEL,
    Settings,
    setting_by_key,
)


def test_every_setting_is_declared_once_with_a_chinese_label_and_a_valid_default() -> None:
    keys = [s.key for s in ALL_SETTINGS]
    assert len(keys) == len(set(keys))
    for spec in ALL_SETTINGS:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in spec.label), spec.key
        assert spec.description
        assert spec.validate(spec.default) == spec.default


def test_round_trip_through_the_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.toml"
    settings = Settings.load(path)
    assert settings.get(COUNTER_NAME) == "1号窗口"  # the default when no file exists
    settings.set(COUNTER_NAME, "3号窗口")
    settings.set(LOG_KEEP_FILES, 4)
    settings.set(LOG_LEVEL, "DEBUG")
    settings.save()

    document = tomllib.loads(path.read_text(encoding="utf-8"))
    assert document["counter"]["name"] == "3号窗口"
    reloaded = Settings.load(path)
    assert reloaded.get(COUNTER_NAME) == "3号窗口"
    assert reloaded.get(LOG_KEEP_FILES) == 4
    assert reloaded.get(LOG_LEVEL) == "DEBUG"
    assert reloaded.is_default(DATABASE_URL)


@pytest.mark.parametrize(
    ("spec", "bad"),
    [(LOG_KEEP_FILES, "4"), (LOG_KEEP_FILES, True), (LOG_KEEP_FILES, 0), (LOG_LEVEL, "LOUD"), (COUNTER_NAME, 3)],
)
def test_wrong_values_are_refused_in_chinese_naming_the_setting(spec, bad) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(Path("unused.toml"))
    with pytest.raises(ConfigurationError) as caught:
        settings.set(spec, bad)
    assert spec.key in caught.value.message
    assert spec.label in caught.value.message


def test_a_bad_value_in_the_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[logging]\nkeep_files = "many"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(path)
    assert str(path) in caught.value.message
    assert "logging.keep_files" in caught.value.message


def test_a_broken_toml_file_is_reported_not_crashed_on(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[counter\nname = ", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="格式错误"):
        Settings.load(path)


def test_parse_reads_command_line_text() -> None:
    assert LOG_KEEP_FILES.parse(" 7 ") == 7
    with pytest.raises(ConfigurationError):
        LOG_KEEP_FILES.parse("seven")
    with pytest.raises(ConfigurationError):
        setting_by_key("no.such.key")


def test_database_url_comes_from_the_environment_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(tmp_path / "settings.toml")
    assert settings.database_url() is None  # local SQLite
    settings.set(DATABASE_URL, "postgresql+psycopg://counter@db/wi")
    assert settings.database_url() == "postgresql+psycopg://counter@db/wi"
    monkeypatch.setenv("WI_COUNTER_DB_URL", "sqlite:///elsewhere.sqlite3")
    assert settings.database_url() == "sqlite:///elsewhere.sqlite3"


def test_unknown_keys_survive_a_save(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[future]\nfeature = true\n[counter]\nname = "2号窗口"\n', encoding="utf-8")
    settings = Settings.load(path)
    settings.set(LOG_LEVEL, "WARNING")
    settings.save()
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    assert document["future"]["feature"] is True
    assert document["counter"]["name"] == "2号窗口"


def test_a_database_password_is_refused_in_the_settings() -> None:
    """Secrets only in the keyring: the settings file must never hold the database password."""
    with pytest.raises(ConfigurationError, match="wi-counter secret set database"):
        DATABASE_URL.validate("postgresql+psycopg://wi:hunter22@db-server/wi_counter")
    assert DATABASE_URL.validate("postgresql+psycopg://wi@db-server/wi_counter")


def test_a_blank_counter_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="不能为空"):
        COUNTER_NAME.validate("  ")


def test_only_sqlite_and_postgresql_urls_are_accepted() -> None:
    with pytest.raises(ConfigurationError, match="只支持 SQLite 或 PostgreSQL"):
        DATABASE_URL.validate("mysql://counter@db/wi")
    with pytest.raises(ConfigurationError, match="格式错误"):
        DATABASE_URL.validate("not a url")
    assert DATABASE_URL.validate("sqlite:////srv/wi/counter.sqlite3")


def test_a_save_keeps_the_sites_comments_and_layout(tmp_path: Path) -> None:
    """Issue 24 §6: the IT person's notes in the settings file survive the program writing it back."""
    path = tmp_path / "settings.toml"
    path.write_text(
        "# 本院设置：由信息科维护，改动请登记\n"
        "[centre]\n"
        "url = \"https://centre.example.cn:8443\"  # 省平台正式地址\n"
        "\n"
        "# 收费窗口\n"
        "[counter]\n"
        "name = \"一号窗口\"\n",
        encoding="utf-8")
    settings = Settings.load(path)
    settings.set(COUNTER_NAME, "二号窗口")
    settings.save()
    text = path.read_text(encoding="utf-8")
    assert "# 本院设置：由信息科维护，改动请登记" in text
    assert "# 省平台正式地址" in text and "# 收费窗口" in text
    assert tomllib.loads(text)["counter"]["name"] == "二号窗口"
    assert tomllib.loads(text)["centre"]["url"] == "https://centre.example.cn:8443"
    settings.reset(COUNTER_NAME)
    settings.save()
    text = path.read_text(encoding="utf-8")
    assert "name" not in tomllib.loads(text).get("counter", {})
    assert "# 本院设置：由信息科维护，改动请登记" in text
