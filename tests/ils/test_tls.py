# SPDX-License-Identifier: Apache-2.0
"""SIP2 over TLS: the client verifies the ACS's certificate and circulates through it."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from edge_service.ils import IlsSimulator, Sip2Client, TransientIlsError, load_simulator_data
from tests.ils.helpers import SAMPLE, profile_for

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl is needed to make test certs")


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "ils.key", directory / "ils.csr", directory / "ils.crt"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")
    run = [OPENSSL or "openssl"]
    subprocess.run([*run, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=LibEdge test CA", "-keyout", ca_key, "-out", ca_crt],
                   check=True, capture_output=True)
    subprocess.run([*run, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-keyout", key, "-out", csr], check=True, capture_output=True)
    subprocess.run([*run, "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", crt],
                   check=True, capture_output=True)
    return ca_crt, crt, key


async def test_checkout_over_tls_with_a_verified_certificate(tmp_path: Path) -> None:
    ca_crt, crt, key = _certificates(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(crt, key)
    client_ctx = ssl.create_default_context(cafile=str(ca_crt))
    async with IlsSimulator(load_simulator_data(SAMPLE), ssl=server) as sim, \
            Sip2Client(profile_for(sim), ssl=client_ctx) as client:
        status = await client.sc_status()
        assert status.online
        result = await client.item_information("5012345601")
        assert result.item_id == "5012345601"


async def test_an_unknown_certificate_authority_is_refused(tmp_path: Path) -> None:
    _, crt, key = _certificates(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(crt, key)
    untrusting = ssl.create_default_context()  # system CAs only: the test CA is unknown
    async with IlsSimulator(load_simulator_data(SAMPLE), ssl=server) as sim:
        client = Sip2Client(profile_for(sim, timeout_s=1.0), ssl=untrusting)
        with pytest.raises(TransientIlsError) as refused:
            await client.sc_status()
        await client.close()
        assert sim.counters.logins == 0  # nothing crossed the refused handshake
    assert "its TLS certificate is not trusted (unable to get local issuer certificate)" in str(
        refused.value)
