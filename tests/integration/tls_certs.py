"""Throw-away TLS material for a test broker, made with the openssl command line tool."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BrokerCertificates:
    ca_pem: Path  # what clients trust (TITAN_KAFKA_SSL_CAFILE)
    keystore: Path  # PKCS12: the broker's key and certificate
    keystore_password: str


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()[-2000:]}")


def make_broker_certificates(folder: Path, keystore_password: str) -> BrokerCertificates:
    """A one-day CA and a broker certificate it signed for 127.0.0.1 and localhost.

    A real CA rather than one self-signed leaf: Python verifies the chain and the subject
    alternative name exactly as it would against a cluster's certificates.
    """
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is not on PATH (apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=titan-test-ca", "-keyout", "ca.key", "-out", "ca.pem",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", "broker.key", "-out", "broker.csr", cwd=folder)  # fmt: skip
    (folder / "broker.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "1", "-extfile", "broker.ext",
             "-out", "broker.pem", cwd=folder)  # fmt: skip
    _openssl("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key",
             "-certfile", "ca.pem", "-name", "broker", "-out", "broker.p12",
             "-passout", f"pass:{keystore_password}", cwd=folder)  # fmt: skip
    return BrokerCertificates(folder / "ca.pem", folder / "broker.p12", keystore_password)
