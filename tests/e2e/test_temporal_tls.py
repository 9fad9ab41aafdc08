"""The service reaches a TLS-protected Temporal with a client certificate (mTLS), as a cluster or Temporal Cloud.

The dev server speaks plain gRPC only (`temporal server start-dev` has no TLS flags), so a TLS server made here
stands in front of the session's: it terminates mutual TLS with certificates made by the test, requires a client
certificate signed by its CA, and passes the decrypted bytes to the dev server. The SDK's TLS client, its ALPN
and its certificate checks are the real ones.
"""

import asyncio
import contextlib
import datetime
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.temporal import connect, connect_when_ready

pytestmark = pytest.mark.asyncio

SERVER_NAME = "temporal.moi.test"
CLIENT_NAME = "complaints-worker"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, *, ca: bool = False,
                 dns_name: str | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name, issuer_key = issuer or (_name(subject), key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if dns_name:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def _write(folder: Path, name: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None):
    (folder / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        (folder / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """A CA, the server's certificate for SERVER_NAME, and the service's client certificate, all signed by it."""
    folder = tmp_path_factory.mktemp("tls")
    ca, ca_key = _certificate("Ministry test CA", None, ca=True)
    _write(folder, "ca", ca)
    _write(folder, "server", *_certificate("temporal", (ca.subject, ca_key), dns_name=SERVER_NAME))
    _write(folder, "client", *_certificate(CLIENT_NAME, (ca.subject, ca_key)))
    return folder


@dataclass
class TlsFront:
    port: int
    clients_seen: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
async def tls_front(certificates: Path, servers) -> AsyncIterator[TlsFront]:
    """Mutual TLS in front of the session's dev server, as a TLS-protected cluster's frontend answers."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certificates / "ca.pem")
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = servers.temporal_address.rsplit(":", 1)
    front = TlsFront(port=0)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        front.clients_seen += [value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"]
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    front.port = server.sockets[0].getsockname()[1]
    async with server:
        yield front
        server.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(ConnectionError, ssl.SSLError, RuntimeError):
        writer.close()


def _through_tls(settings, front: TlsFront, certificates: Path, *, client_certificate: bool = True, **changes):
    mtls = {"temporal_tls_cert": certificates / "client.pem", "temporal_tls_key": certificates / "client.key"}
    return settings.model_copy(update={
        "temporal_address": front.address, "temporal_tls_ca": certificates / "ca.pem",
        "temporal_tls_server_name": SERVER_NAME, **(mtls if client_certificate else {}), **changes})


async def test_the_service_connects_with_its_client_certificate(settings, tls_front, certificates, temporal_client):
    configured = _through_tls(settings, tls_front, certificates)
    client = await connect_when_ready(configured, timeout=20)
    # The same server as the plain connection, reached over mutual TLS by the certificate's holder.
    assert await client.count_workflows() == await temporal_client.count_workflows()
    assert CLIENT_NAME in tls_front.clients_seen


async def test_without_a_client_certificate_the_server_refuses_the_connection(settings, tls_front, certificates):
    configured = _through_tls(settings, tls_front, certificates, client_certificate=False)
    with pytest.raises(RuntimeError, match="Failed client connect"):
        client = await connect(configured)
        await client.count_workflows()


async def test_a_server_certificate_for_another_name_is_refused(settings, tls_front, certificates):
    configured = _through_tls(settings, tls_front, certificates, temporal_tls_server_name="elsewhere.moi.test")
    with pytest.raises(RuntimeError, match="InvalidCertificate.*elsewhere.moi.test"):
        client = await connect(configured)
        await client.count_workflows()
