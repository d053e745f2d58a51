"""Secure mode's TLS material: a throwaway CA, the broker's keystore and a client certificate, made with ``openssl``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ...errors import ConfigError
from .layout import CLIENT_USER
from .tools import require_tool, shorten

__all__ = ["make_tls"]

_CERT_DAYS = "825"


def _openssl(tls: Path, *args: str) -> None:
    openssl = require_tool("openssl", "install OpenSSL (e.g. `apt-get install openssl`); --secure makes its "
                                      "certificates with it")
    done = subprocess.run([openssl, *args], cwd=tls, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        reason = next((line for line in reversed(done.stderr.splitlines()) if line.strip()),
                      f"exit code {done.returncode}")
        raise ConfigError(f"openssl {args[0]} failed while making the certificates in {tls} ({shorten(reason)}); "
                          f"remove {tls} and retry")


def _issue(tls: Path, name: str, subject: str, extensions: str) -> None:
    """A key and a certificate for ``name`` signed by the CA in ``tls``."""
    _openssl(tls, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
    (tls / f"{name}.ext").write_text(extensions)
    _openssl(tls, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", _CERT_DAYS, "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.crt")
    for leftover in (f"{name}.csr", f"{name}.ext", "ca.srl"):
        (tls / leftover).unlink(missing_ok=True)


def make_tls(tls: Path, keystore_password: str) -> None:
    """Create (once) ``ca.crt``/``ca.key``, the broker keystore ``broker.p12`` and ``client.crt``/``client.key``.

    The broker certificate names 127.0.0.1 and localhost, so clients verify
    the hostname as well as the chain.
    """
    wanted = ("ca.crt", "broker.p12", "client.crt", "client.key")
    if all((tls / name).is_file() for name in wanted):
        return
    if tls.exists():
        shutil.rmtree(tls)  # half made by an interrupted start: make it again as a whole
    tls.mkdir(mode=0o700, parents=True)
    # EC P-256 keys: generated in milliseconds (RSA takes seconds on a busy 2-core machine), fine for JDK 17 and Python.
    _openssl(tls, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.crt",
             "-days", _CERT_DAYS, "-sha256", "-subj", "/CN=newswire local broker CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    common = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
              "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    _issue(tls, "broker", "/CN=localhost",
           common + "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _issue(tls, "client", f"/CN={CLIENT_USER}", common + "extendedKeyUsage=clientAuth\n")
    _openssl(tls, "pkcs12", "-export", "-in", "broker.crt", "-inkey", "broker.key", "-certfile", "ca.crt",
             "-name", "broker", "-out", "broker.p12", "-passout", f"pass:{keystore_password}")
    (tls / "broker.key").unlink()  # it lives on in the keystore
    for key in tls.glob("*.key"):
        key.chmod(0o600)
