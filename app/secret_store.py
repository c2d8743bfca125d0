"""Secrets (database password, the centre's signing key…) live only in the OS keyring.

Windows Credential Manager, macOS Keychain, or the Secret Service (GNOME Keyring,
KWallet) on Linux. Where none exists the program says so and refuses: it never
falls back to a plaintext file or the database (unlike some desktop programs).
"""

from __future__ import annotations

import logging

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from app.errors import NoSecureStoreError

log = logging.getLogger(__name__)

SERVICE = "wi-counter"

# The secrets the program knows, by name, with what each is for (shown by `wi-counter secret`).
DATABASE_PASSWORD = "database"
CENTRE_KEY = "centre-key"
AUDIT_KEY = "audit-key"
KNOWN_SECRETS: dict[str, str] = {
    DATABASE_PASSWORD: "共用 PostgreSQL 数据库的密码 / the shared PostgreSQL database's password",
    CENTRE_KEY: "结算中心分配给本机构的报文签名密钥（HMAC-SHA256） / the institution's signing key for the centre",
    AUDIT_KEY: "本机构的审计日志密钥（HMAC-SHA256，首次记审计日志时生成；各窗口须相同，请备份）"
               " / the institution's audit-trail key (made on first use; the same on every counter; back it up)",
}

NO_STORE_MESSAGE = (
    "本机没有可用的安全密钥存储（操作系统密钥环），程序不会把密码或密钥以明文保存。"
    "Windows 请确认“凭据管理器”服务已启用；Linux 请安装并解锁 GNOME Keyring 或 KWallet"
    "（Secret Service），然后重新启动本程序。"
)

# Backends that keep nothing secure: the "fail" backend and the plaintext ones of keyrings.alt.
_INSECURE_BACKENDS = {
    "keyring.backends.fail.Keyring",
    "keyring.backends.null.Keyring",
    "keyrings.alt.file.PlaintextKeyring",
    "keyrings.alt.file.EncryptedKeyring",  # key file sits beside the data it protects
}


def _qualified_name(backend: KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def _secure_backends(backend: KeyringBackend) -> list[KeyringBackend]:
    members = getattr(backend, "backends", None)  # the chainer holds several
    candidates = list(members) if members is not None else [backend]
    return [b for b in candidates if _qualified_name(b) not in _INSECURE_BACKENDS and b.priority > 0]


def secure_store_available() -> bool:
    return bool(_secure_backends(keyring.get_keyring()))


def describe_store() -> str:
    """Name of the backend in use, for the settings page and support."""
    backends = _secure_backends(keyring.get_keyring())
    return "、".join(_qualified_name(b) for b in backends) if backends else "无（不可保存密钥）"


def _require_store() -> None:
    if not secure_store_available():
        raise NoSecureStoreError(NO_STORE_MESSAGE)


def set_secret(name: str, value: str) -> None:
    _require_store()
    try:
        keyring.set_password(SERVICE, name, value)
    except keyring.errors.KeyringError as exc:
        raise NoSecureStoreError(f"{NO_STORE_MESSAGE}（{exc}）") from exc
    log.info("已在密钥环中保存密钥 %s", name)


def get_secret(name: str) -> str | None:
    _require_store()
    try:
        return keyring.get_password(SERVICE, name)
    except keyring.errors.KeyringError as exc:
        raise NoSecureStoreError(f"{NO_STORE_MESSAGE}（{exc}）") from exc


def delete_secret(name: str) -> None:
    _require_store()
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass  # already absent: the wanted end state
