from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from app import secret_store
from app.errors import NoSecureStoreError


def test_secrets_go_to_the_keyring(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    secret_store.set_secret("centre-signing-key", "s3cret")
    assert memory_keyring.secrets[("wi-counter", "centre-signing-key")] == "s3cret"
    assert secret_store.get_secret("centre-signing-key") == "s3cret"
    secret_store.delete_secret("centre-signing-key")
    assert secret_store.get_secret("centre-signing-key") is None
    secret_store.delete_secret("centre-signing-key")  # deleting twice is fine


def test_without_a_secure_store_it_says_so_and_stores_nothing(isolated_home: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    assert not secret_store.secure_store_available()
    with pytest.raises(NoSecureStoreError) as caught:
        secret_store.set_secret("database", "hunter22")
    assert "安全密钥存储" in caught.value.message
    assert "明文" in caught.value.message
    with pytest.raises(NoSecureStoreError):
        secret_store.get_secret("database")
    # Nothing fell back to a file anywhere under the counter's folders.
    if isolated_home.exists():
        for path in isolated_home.rglob("*"):
            if path.is_file():
                assert b"hunter22" not in path.read_bytes()


def test_a_plaintext_backend_does_not_count_as_secure() -> None:
    class PlaintextKeyring(fail.Keyring):
        priority = 1  # type: ignore[assignment]

    PlaintextKeyring.__module__ = "keyrings.alt.file"
    PlaintextKeyring.__qualname__ = "PlaintextKeyring"
    keyring.set_keyring(PlaintextKeyring())
    assert not secret_store.secure_store_available()


def test_the_database_password_comes_from_the_keyring(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    from app.db.engine import make_engine

    secret_store.set_secret(secret_store.DATABASE_PASSWORD, "from-keyring")
    engine = make_engine("postgresql+psycopg://wi@db-server:5432/wi_counter")
    assert engine.url.password == "from-keyring"
    assert "from-keyring" not in repr(engine.url)  # never printed
    engine.dispose()


def test_secret_set_reads_stdin_and_stores_in_the_keyring(memory_keyring, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io

    from app.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("pg-password\n"))
    assert main(["secret", "set", "database"]) == 0
    assert memory_keyring.secrets[("wi-counter", "database")] == "pg-password"
