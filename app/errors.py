"""The program's error types.

Every error a clerk may see carries a Chinese message (`message`) that names what
is wrong and, where it helps, what to do next. Code below the UI raises these;
the UI shows `message` as it is.
"""

from __future__ import annotations


class WiCounterError(Exception):
    """Base of every error the program expects and explains."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(WiCounterError):
    """A setting or the environment is wrong (bad value, unreachable database…)."""


class NoSecureStoreError(WiCounterError):
    """No secure secret store (OS keyring) is available; secrets are never kept in plain text."""


class AuthenticationError(WiCounterError):
    """Login refused."""


class PermissionDenied(WiCounterError):
    """The operator's role does not allow the action."""


class ImmutableRecordError(WiCounterError):
    """Someone tried to edit a record that may only be reversed by a new record."""
