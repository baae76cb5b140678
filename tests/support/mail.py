"""Loopback mail servers for the email channel's wire tests (STYLE.md 12): a real SMTP
server (aiosmtpd) with or without STARTTLS, implicit TLS, AUTH; a self-signed certificate
for 127.0.0.1; and Mailgun's webhook signature, computed as Mailgun documents it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets
import ssl
import time
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key; the certificate doubles as the CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class Recorder:
    """The SMTP handler: keeps every message with how it arrived (TLS? logged in?)."""

    def __init__(self):
        self.received: list[dict] = []
        self.auth_attempts: list[str] = []
        self.refuse: dict[str, str] = {}  # recipient → SMTP reply, e.g. "550 no such user"
        self.quit_reply: str | None = None  # e.g. "421 closing": a goodbye that went wrong

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append({
            "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "login": session.auth_data.login if session.authenticated else None,
            "message": message_from_bytes(envelope.content, policy=policy.default),
        })
        return "250 Message accepted"

    async def handle_QUIT(self, server, session, envelope):
        return self.quit_reply or "221 Bye"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.auth_attempts.append(mechanism)
        ok = auth_data.login == b"parley" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, auth_data=auth_data)

    @property
    def messages(self):
        return [r["message"] for r in self.received]


class LoopbackController(Controller):
    """aiosmtpd's Controller on an ephemeral port: it learns the port the OS chose before
    its start-up probe connects."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def smtp_server(recorder: Recorder, *, starttls: tuple[Path, Path] | None = None,
                implicit: tuple[Path, Path] | None = None, port: int = 0) -> LoopbackController:
    """Started SMTP server. ``starttls`` offers STARTTLS (and AUTH only after it);
    ``implicit`` is SMTPS; neither is a plain server that offers AUTH in the clear."""
    options = {"authenticator": recorder.authenticate}
    if starttls:
        options.update(tls_context=server_context(*starttls), auth_require_tls=True)
    else:
        options.update(auth_require_tls=False)
    if implicit:
        options["ssl_context"] = server_context(*implicit)
    controller = LoopbackController(recorder, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller


def mailgun_form(key: str, raw: bytes | str, *, timestamp: int | None = None,
                 token: str | None = None, **extra: str) -> dict[str, str]:
    """A routed-message webhook body as Mailgun posts it: signature = hex HMAC-SHA256 of
    timestamp + token with the webhook signing key."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(),
                         hashlib.sha256).hexdigest()
    body = raw.decode() if isinstance(raw, bytes) else raw
    return {"timestamp": str(timestamp), "token": token, "signature": signature,
            "body-mime": body, **extra}
