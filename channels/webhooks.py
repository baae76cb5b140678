"""Webhook deliveries over HTTP: the one module that imports ``requests`` (DESIGN.md §2).

``deliver`` sends one ``WebhookDelivery`` row, signed (``core.webhooks.signature``), claimed
like every outbox row (``channels.durable.claim``: one UPDATE, the attempt counted before
any work). A failed attempt goes back to pending with its next attempt time, which the
sweeper keeps (``channels.durable.sweep``), until the retry window is over; then failed,
kept and shown in the endpoint's deliveries.

SSRF: only http and https, never a redirect (a 3xx is a failed attempt), short timeouts,
no proxy from the environment, and no address that is not public — checked when HR
registers the URL (``url_refusal``), again before each send (DNS changes), and on the
socket itself once it is connected (``_CheckedConnection``: what we check is what we talk
to, whatever a resolver answers in between). ``WEBHOOK_ALLOW_PRIVATE=1`` lifts the address
rule (development, tests).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import ipaddress
import logging
import socket
import threading
import time
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import update
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from channels import durable
from core import db, webhooks
from core.config import Settings, get_settings
from core.messages import storable
from core.models import WebhookDelivery, WebhookEndpoint, utcnow

log = logging.getLogger(__name__)

RESPONSE_PREFIX = 300  # characters of a receiver's answer kept on the row
UNRESOLVED = "does not resolve"  # a lookup that failed: tried again, unlike a refusal
READ_AT_MOST = 4096  # bytes of it read at all


class Refused(Exception):
    """The URL or the address it reached is not one we send to (not an OSError, so that
    urllib3 does not take it for a network fault and retry)."""


def address_refusal(ip: str) -> str | None:
    """Why this address is not a public one, or None."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])  # fe80::1%eth0
    except ValueError:
        return "not an IP address"
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:  # fec0::/10: deprecated, still routed inward somewhere
            return "a site-local address"
        # an IPv4 address inside: ::ffff:127.0.0.1, 6to4 2002:0a00:0001::, Teredo's client
        inner = address.ipv4_mapped or address.sixtofour or (
            address.teredo[1] if address.teredo else None)
        if inner is not None:
            address = inner
    for kind, found in (("unspecified", address.is_unspecified),
                        ("loopback", address.is_loopback),
                        ("link-local", address.is_link_local),
                        ("multicast", address.is_multicast),
                        ("private", address.is_private),
                        ("reserved", address.is_reserved),
                        ("non-public", not address.is_global)):
        if found:
            return f"a {kind} address"
    return None


def url_refusal(url: str, *, allow_private: bool = False) -> str | None:
    """Why Parley will not send to ``url``, or None: http(s) only, no credentials in it, a
    host that resolves, and (unless ``allow_private``) only to public addresses."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "url: not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "url: only http and https URLs"
    if not parts.hostname:
        return "url: no host"
    if parts.username is not None or parts.password is not None:
        return "url: no credentials in the URL (deliveries are signed instead)"
    if allow_private:
        return None
    try:
        found = {info[4][0] for info in socket.getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError, ValueError):
        return f"url: {parts.hostname} {UNRESOLVED}"
    for ip in sorted(found):
        if reason := address_refusal(ip):
            return (f"url: {parts.hostname} resolves to {ip}, {reason} "
                    "(set WEBHOOK_ALLOW_PRIVATE=1 to allow it)")
    return None


@dataclasses.dataclass
class _Watch:
    """The post under way in this context: whether its peer must be public, and its
    sockets, which the deadline shuts."""

    public_only: bool
    sockets: list[socket.socket] = dataclasses.field(default_factory=list)


_WATCH: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar("webhook_post",
                                                                      default=None)


def _opened(sock: socket.socket) -> socket.socket:
    watch = _WATCH.get() or _Watch(public_only=True)  # outside a post: the strict rule
    if watch.public_only:
        ip = sock.getpeername()[0]
        if reason := address_refusal(ip):
            sock.close()
            raise Refused(f"connected to {ip}, {reason}")
    watch.sockets.append(sock)
    return sock


class _Connection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _opened(super()._new_conn())


class _TLSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _opened(super()._new_conn())


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class _Watched(HTTPAdapter):
    """Connections whose peer is checked and whose sockets the deadline can shut."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}


def _client() -> requests.Session:
    client = requests.Session()
    client.trust_env = False  # no proxy or .netrc from the environment: we reach the URL
    client.mount("http://", _Watched())
    client.mount("https://", _Watched())
    return client


def _too_slow(settings: Settings) -> requests.Timeout:
    return requests.Timeout(f"no whole answer within {settings.webhook_timeout} s")


def _shut(sockets: list[socket.socket], fired: threading.Event) -> None:
    fired.set()
    for sock in list(sockets):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # a recv blocked on it returns at once


def post(url: str, body: bytes, headers: dict[str, str],
         settings: Settings) -> tuple[int, str]:
    """POST once, no redirects; the status and a prefix of the answer. The whole exchange
    takes at most WEBHOOK_TIMEOUT (the connect alone WEBHOOK_CONNECT_TIMEOUT): a receiver
    that drips its answer a byte at a time has its socket shut at the deadline."""
    watch = _Watch(public_only=not settings.webhook_allow_private)
    fired = threading.Event()
    token = _WATCH.set(watch)
    timer = threading.Timer(settings.webhook_timeout, _shut, (watch.sockets, fired))
    timer.daemon = True
    timer.start()
    try:
        with _client() as client, client.post(
                url, data=body, headers=headers, allow_redirects=False, stream=True,
                timeout=(settings.webhook_connect_timeout, settings.webhook_timeout)) as answer:
            read = b""
            for chunk in answer.iter_content(1024):
                read += chunk
                if len(read) >= READ_AT_MOST:
                    break
            status, location = answer.status_code, answer.headers.get("Location", "?")
            redirect = answer.is_redirect
    except (requests.RequestException, OSError) as exc:
        if fired.is_set():
            raise _too_slow(settings) from exc
        raise
    finally:
        timer.cancel()
        _WATCH.reset(token)
    if fired.is_set():  # the shut socket read as the end of an answer cut short
        raise _too_slow(settings)
    text = storable(read.decode("utf-8", errors="replace"))[:RESPONSE_PREFIX]
    if redirect:
        text = f"(redirect to {location[:200]}) {text}"
    return status, text


def deliver(delivery_id: int) -> str | None:
    """Job: one attempt at one delivery. Returns the row's status after it, or None when
    the row was not ours to send (delivered, failed, not due, or being sent)."""
    row = WebhookDelivery
    attempt = durable.claim(row, delivery_id, due=row.next_attempt_at <= utcnow())
    if attempt is None:
        return None
    with db.session_scope() as s:
        delivery = s.get(WebhookDelivery, delivery_id)
        if delivery is None:  # its endpoint was deleted meanwhile
            return None
        endpoint = s.get(WebhookEndpoint, delivery.endpoint_id)
        url, secret, payload = endpoint.url, endpoint.secret, delivery.payload
        created_at = delivery.created_at
    if attempt > webhooks.ATTEMPTS:  # the last attempt died with its worker
        return _finish(delivery_id, "failed", attempt, error=None)
    settings = get_settings()
    refusal = url_refusal(url, allow_private=settings.webhook_allow_private)
    code, text = None, ""
    if refusal and not refusal.endswith(UNRESOLVED):
        # the name resolves elsewhere now: not an address we send to, ever
        return _finish(delivery_id, "failed", attempt, error=f"refused: {refusal}")
    body = webhooks.body_of(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "Parley-Webhooks/1",
               webhooks.SIGNATURE: webhooks.signature(secret, int(time.time()), body),
               webhooks.EVENT_ID: payload["id"], webhooks.EVENT: payload["type"]}
    try:
        if refusal:  # a lookup that failed (a resolver's hiccup): another attempt later
            raise requests.ConnectionError(refusal)
        code, text = post(url, body, headers, settings)
    except Refused as exc:
        return _finish(delivery_id, "failed", attempt, error=f"refused: {exc}")
    except Exception as exc:  # noqa: BLE001 - any fault is a failed attempt, retried on schedule
        error = f"{type(exc).__name__}: {exc}"
    else:
        if 200 <= code < 300:
            return _finish(delivery_id, "delivered", attempt, code=code, response=text)
        error = (f"HTTP {code}: redirects are not followed" if 300 <= code < 400
                 else f"HTTP {code}")
    again = webhooks.retry_at(created_at, attempt, utcnow())
    if again is None:
        log.error("webhook delivery %s failed for good after %d attempts: %s",
                  delivery_id, attempt, error)
        return _finish(delivery_id, "failed", attempt, code=code, error=error, response=text)
    log.warning("webhook delivery %s attempt %d failed (%s); next at %s", delivery_id,
                attempt, error, again.isoformat())
    return _finish(delivery_id, "pending", attempt, code=code, error=error, response=text,
                   next_at=again)


def _finish(delivery_id: int, status: str, attempt: int, *, code: int | None = None,
            error: str | None = "", response: str = "", next_at=None) -> str | None:
    """Record attempt ``attempt``'s outcome, if the row is still this attempt's: a worker
    that stalled past its claim (the sweeper gave the row to another) records nothing.
    ``error`` None keeps the last one's. Returns the status, or None when not recorded."""
    values: dict = {"status": status}
    if error is not None:
        values.update(last_status_code=code, last_response=response,
                      last_error=storable(error)[:2000])
    if status == "delivered":
        values["delivered_at"] = utcnow()
    if next_at is not None:
        values["next_attempt_at"] = next_at
    with db.session_scope() as s:
        done = s.execute(update(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.status == "sending",
            WebhookDelivery.attempts == attempt).values(**values))
        return status if done.rowcount == 1 else None
