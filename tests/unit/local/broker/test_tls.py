"""Secure mode's TLS material made with openssl."""

from __future__ import annotations

import ssl
import stat
import subprocess
from pathlib import Path

import pytest

from tests.unit.local.broker.support import (
    assert_one_line,
    path_with,
)
from workers.errors import ConfigError
from workers.local import broker


def test_make_tls_issues_a_ca_a_loopback_server_cert_and_a_client_cert(tmp_path: Path) -> None:
    if subprocess.run(["which", "openssl"], capture_output=True).returncode != 0:
        pytest.skip("openssl not installed")
    tls = tmp_path / "tls"
    broker.make_tls(tls, "storepw")

    def verify(purpose: str, cert: str) -> str:
        done = subprocess.run(["openssl", "verify", "-CAfile", "ca.crt", "-purpose", purpose, cert],
                              cwd=tls, capture_output=True, text=True)
        return done.stdout + done.stderr

    assert verify("sslserver", "broker.crt").strip().endswith("OK")
    assert verify("sslclient", "client.crt").strip().endswith("OK")
    decoded = ssl._ssl._test_decode_cert(str(tls / "broker.crt"))  # type: ignore[attr-defined]
    assert ("IP Address", "127.0.0.1") in decoded["subjectAltName"]
    keystore = subprocess.run(["openssl", "pkcs12", "-in", "broker.p12", "-passin", "pass:storepw", "-nokeys"],
                              cwd=tls, capture_output=True, text=True)
    assert keystore.returncode == 0 and "BEGIN CERTIFICATE" in keystore.stdout
    assert stat.S_IMODE((tls / "client.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tls / "ca.key").stat().st_mode) == 0o600
    assert not (tls / "broker.key").exists()  # only inside the password-protected keystore

    before = (tls / "ca.crt").read_bytes()
    broker.make_tls(tls, "storepw")
    assert (tls / "ca.crt").read_bytes() == before  # made once, kept across restarts


def test_missing_openssl_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path))
    with pytest.raises(ConfigError) as raised:
        broker.make_tls(tmp_path / "tls", "pw")
    assert_one_line(raised.value.detail)
    assert "`openssl` was not found" in raised.value.detail and "install" in raised.value.detail
