"""Operators for tests, signed in as `app.operators.authenticate` signs them in.

The services act only for an operator object `authenticate` returned (its proof); tests that are not
about logging in get one here without an Argon2 round and a login event per test. The command-line
tests sign in for real: their operators' password is `TEST_PASSWORD` (`TEST_PASSWORD_HASH`), given
with `--password-stdin`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from argon2 import PasswordHasher

from app.db.models import Operator
from app.operators import OperatorInfo, _proof

if TYPE_CHECKING:
    import pytest

TEST_PASSWORD = "test-password-1"
TEST_PASSWORD_HASH = PasswordHasher().hash(TEST_PASSWORD)  # once per test process


def signed_in(who: Operator | OperatorInfo) -> OperatorInfo:
    info = who if isinstance(who, OperatorInfo) else OperatorInfo(who.id, who.login, who.display_name, who.role)
    return dataclasses.replace(info, proof=_proof(info.id, info.login, info.role))


def password_on_stdin(monkeypatch: "pytest.MonkeyPatch", *lines: str) -> None:
    """Standard input for one in-process `main([... "--password-stdin"])`: the password (then any further lines)."""
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{line}\n" for line in (lines or (TEST_PASSWORD,)))))
