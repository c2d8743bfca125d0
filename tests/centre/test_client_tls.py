"""The client over HTTPS: the centre's certificate is verified, always."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from app.centre.gateway import CentreUnavailable, PersonKey
from app.composition import open_counter_centre
from app.secret_store import CENTRE_KEY, set_secret
from app.settings import CENTRE_CA_FILE
from tests.centre.client_fixtures import ZHANG_WEI, make_counter
from tests.centre.sandbox_process import TEST_KEY, SandboxProcess
from tests.centre.test_sandbox_server import _self_signed


def test_https_with_the_centres_certificate_verified(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    sandbox = SandboxProcess(tmp_path / "sandbox", tls=(cert, key),
                             ssl_context=ssl.create_default_context(cafile=str(cert))).start()
    ctx = make_counter(tmp_path / "home", f"sqlite:///{tmp_path / 'counter.sqlite3'}", sandbox.url)
    set_secret(CENTRE_KEY, TEST_KEY)
    try:
        assert sandbox.url.startswith("https://")
        # Not trusted yet (a private certificate): refused before anything is sent.
        untrusting = open_counter_centre(ctx)
        with pytest.raises(CentreUnavailable):
            untrusting.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ZHANG_WEI)
        assert untrusting.check().reachable is False
        untrusting.close()
        # The site names the centre's CA: verified, and it works.
        ctx.settings.set(CENTRE_CA_FILE, str(cert))
        trusting = open_counter_centre(ctx)
        assert trusting.find_person(PersonKey.SOCIAL_SECURITY_NUMBER, ZHANG_WEI).name == "张伟"
        assert trusting.check().reachable is True
        trusting.close()
    finally:
        ctx.close()
        sandbox.stop()
