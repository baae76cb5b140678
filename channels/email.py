"""The email channel: an interview as a real email conversation, and invites by email.

Sending goes through SMTP (``SMTP_URL``; STARTTLS whenever offered and required before any
credential is sent) or, on the embedded default, into ``.eml`` files under ``var/mail/``
so a new user sees exactly what employees would receive. Every message of one interview is
one thread (``In-Reply-To`` / ``References``) and its ``Reply-To`` is a signed plus-address
that names the interview. Replies arrive by Mailgun's routed-message webhook
(``POST /email/inbound``) or by polling a mailbox (``IMAP_URL``); quoted history and
signatures are stripped before the text reaches the interviewer, and auto-replies and
bounces are never answered.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import imaplib
import ipaddress
import logging
import re
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from email import message_from_bytes, policy
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flask import Blueprint, Flask, current_app, render_template, request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from mailparser_reply.parser import EmailMessage as ReplyThread
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from channels.base import BadPayload, Channel, Forbidden, NeedsOperator, PermanentError
from channels.durable import accept
from core import db, directory, engine, jobs, one_on_ones
from core.config import ROOT, Settings, get_settings, private_dir, private_file
from core.interviewer import prompts
from core.messages import MAX_TEXT, Address, Inbound, Outbound, storable
from core.models import Interview, Invite, OutboundRecord, utcnow
from core.ratelimit import Limit

log = logging.getLogger(__name__)

MAX_AGE = 300  # seconds a Mailgun signature stays valid (PROTOCOLS.md: "a few minutes")
LINK = re.compile(r"(/c/)[A-Za-z0-9_-]{16,}")  # a web-chat link's secret token
SCRUBBED = r"\1[link removed after sending]"
LANGUAGES = ["en", "de", "fr", "es", "it", "nl"]  # reply headers mail-parser-reply knows
REMINDERS = {prompts.RESUME_PROMPT, prompts.PAUSE_EXPIRED}  # sent by the clock, not a reply
TEMPLATES = Environment(loader=FileSystemLoader(ROOT / "web" / "templates" / "email"),
                        autoescape=select_autoescape(["html"]))
OUT_OF_OFFICE = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|"
    r"abwesenheit|absence|r[ée]ponse automatique|automatische antwort|"
    r"away from (the )?office|on vacation|en cong[ée])", re.I)


# ---- signed tokens -----------------------------------------------------------------------------

def sign(secret: str, *parts: object) -> str:
    """A short HMAC (SECRET_KEY) over ``parts``: lower-case hex, since mail systems may
    change the case of an address's local part."""
    text = ":".join(str(p) for p in parts)
    return hmac.new(secret.encode(), f"email:{text}".encode(), hashlib.sha256).hexdigest()[:20]


def outbound_message_id(secret: str, record_id: int, domain: str) -> str:
    """The Message-ID of outbox row ``record_id``: the same on every attempt (a retry after
    an interrupted one is the same message, which mail clients show once) and unique to
    this install (the signature part)."""
    return f"<out-{record_id}.{sign(secret, 'message-id', record_id)[:16]}@{domain}>"


def reply_token(secret: str, interview_id: int) -> str:
    return f"i{interview_id}.{sign(secret, 'reply', interview_id)}"


def read_reply_token(secret: str, token: str) -> int | None:
    """The interview a reply+<token>@ address names, or None when it is not ours."""
    ids = _read_address_token(secret, token, "i", "reply", 1)
    return ids[0] if ids else None


def pair_reply_token(secret: str, pair_id: int, person_id: int) -> str:
    """One person's address in one 1-on-1 thread: a reply to it acts as them alone."""
    return f"p{pair_id}.{person_id}.{sign(secret, 'pair', pair_id, person_id)}"


def read_pair_reply_token(secret: str, token: str) -> tuple[int, int] | None:
    """(pair, person) a reply+<token>@ address names, or None when it is not one of ours."""
    ids = _read_address_token(secret, token, "p", "pair", 2)
    return (ids[0], ids[1]) if ids else None


def _read_address_token(secret: str, token: str, kind: str, purpose: str,
                        count: int) -> tuple[int, ...] | None:
    """The ``count`` ids of a ``<kind><id>[.<id>…].<signature>`` token, when we signed it."""
    m = re.fullmatch(kind + r"\.".join([r"([0-9]{1,10})"] * count) + r"\.([0-9a-f]{20})",
                     token.lower())
    if not m:
        return None
    ids = tuple(int(g) for g in m.groups()[:count])
    if any(i >= 2**31 for i in ids):
        return None
    return ids if hmac.compare_digest(m[count + 1], sign(secret, purpose, *ids)) else None


def choice_token(secret: str, interview_id: int, record_id: int, value: str) -> str:
    signature = sign(secret, "choice", interview_id, record_id, value)
    return f"{interview_id}.{record_id}.{value}.{signature}"


def read_choice_token(secret: str, token: str) -> tuple[int, int, str] | None:
    m = re.fullmatch(r"([0-9]{1,10})\.([0-9]{1,10})\.([a-z_]{1,30})\.([0-9a-f]{20})", token)
    if not m or int(m[1]) >= 2**31 or int(m[2]) >= 2**31:
        return None
    interview_id, record_id, value = int(m[1]), int(m[2]), m[3]
    good = sign(secret, "choice", interview_id, record_id, value)
    return (interview_id, record_id, value) if hmac.compare_digest(m[4], good) else None


def unsubscribe_token(secret: str, invite_id: int) -> str:
    return f"{invite_id}.{sign(secret, 'unsubscribe', invite_id)}"


def read_unsubscribe_token(secret: str, token: str) -> int | None:
    m = re.fullmatch(r"([0-9]{1,10})\.([0-9a-f]{20})", token)
    if not m or int(m[1]) >= 2**31:
        return None
    ok = hmac.compare_digest(m[2], sign(secret, "unsubscribe", int(m[1])))
    return int(m[1]) if ok else None


# ---- addresses ---------------------------------------------------------------------------------

def from_address(settings: Settings) -> str:
    return settings.email_from or "Parley <parley@localhost>"


def reply_domain(settings: Settings) -> str:
    return (settings.email_reply_domain
            or parseaddr(from_address(settings))[1].rpartition("@")[2] or "localhost")


def normal_address(raw: str) -> str:
    """An email address as the directory keeps it (``core.directory.upsert`` lower-cases)."""
    return parseaddr(raw or "")[1].strip().lower()


# ---- rendering (pure) ------------------------------------------------------------------------

class Mail:
    """What one message needs beyond its Outbound: who, which thread, which links."""

    def __init__(self, *, to: str, subject: str, message_id: str, reply_to: str | None = None,
                 in_reply_to: str | None = None, references: tuple[str, ...] = (),
                 choice_links: tuple[str, ...] = (), unsubscribe: str | None = None,
                 reminder: bool = False):
        self.to, self.subject, self.message_id = to, subject, message_id
        self.reply_to, self.in_reply_to, self.references = reply_to, in_reply_to, references
        self.choice_links, self.unsubscribe, self.reminder = choice_links, unsubscribe, reminder


def reply_hint(message: Outbound) -> str:
    """How to answer by email: in words for a question, by number for a pure choice."""
    if not message.choices:
        return ""
    if message.about and message.about.startswith("pair:"):  # a 1-on-1 thread's words
        return prompts.EMAIL_THREAD_HINT
    words = [c.value for c in message.choices]
    if engine.asks_for_words(list(message.choices)):
        return ("Reply to this email with your answer, or with one word: "
                + ", ".join(words[:-1]) + " or " + words[-1] + ".")
    numbers = [str(i) for i in range(1, len(message.choices) + 1)]
    return "Reply with " + ", ".join(numbers[:-1]) + " or " + numbers[-1] + "."


def one_line(value: str) -> str:
    """A header value built from data (a session's name, a display name): a line break in
    it would make the header invalid, and every mail of that session fail."""
    return " ".join(value.split())


def render_mail(message: Outbound, mail: Mail, *, sender: str) -> EmailMessage:
    """The MIME message: multipart/alternative text + HTML, threaded, with the headers a
    well-behaved sender sets."""
    msg = EmailMessage()
    msg["From"] = one_line(sender)
    msg["To"] = one_line(mail.to)
    msg["Subject"] = one_line(mail.subject)
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = mail.message_id
    if mail.reply_to:
        msg["Reply-To"] = one_line(mail.reply_to)
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        msg["References"] = " ".join(mail.references)
    if mail.unsubscribe:  # RFC 8058 one-click: an HTTPS URL that takes a POST
        msg["List-Unsubscribe"] = f"<{mail.unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if mail.reminder:
        msg["Auto-Submitted"] = "auto-generated"
    hint = reply_hint(message)
    numbered = not engine.asks_for_words(list(message.choices))  # a question's are words
    choices = [(f"{i}. " if numbered else "", c.label,
                mail.choice_links[i - 1] if i <= len(mail.choice_links) else None)
               for i, c in enumerate(message.choices, 1)]
    text = [message.text]
    if message.progress:
        text.append(f"(Topic {message.progress[0]} of {message.progress[1]})")
    if choices:
        text.append("\n".join(f"{n}{label}" + (f": {link}" if link else "")
                              for n, label, link in choices))
    if hint:
        text.append(hint)
    msg.set_content("\n\n".join(text) + "\n")
    html = TEMPLATES.get_template("message.html").render(
        subject=mail.subject, paragraphs=_paragraphs(message.text), choices=choices,
        hint=hint, progress=message.progress)
    msg.add_alternative(html, subtype="html")
    return msg


URL = re.compile(r"(https?://[^\s<>\"]+)")


def _paragraphs(text: str) -> list[list[tuple[str, str | None]]]:
    """Paragraphs of (text, link) pieces: the template escapes each and links the URLs."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        pieces: list[tuple[str, str | None]] = []
        for i, piece in enumerate(URL.split(para)):
            if piece:
                pieces.append((piece, piece if i % 2 else None))
        out.append(pieces)
    return out


# ---- the channel -------------------------------------------------------------------------------

class EmailChannel(Channel):
    name = "email"

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.email_enabled

    def verify(self, request: Any) -> None:
        verify_mailgun(request.form, self.settings.email_inbound_signing_key)

    def parse(self, request: Any) -> list[Inbound]:
        raw = request.form.get("body-mime")
        if not raw:
            raise BadPayload("body-mime is missing: Mailgun posts the raw message only to "
                             "a URL ending in mime; forward the route to /email/inbound/mime")
        form = request.form
        return inbound_from(raw.encode("utf-8", "surrogateescape"), self.settings,
                            authenticated=lambda msg: mailgun_vouches(form, msg),
                            recipient=form.get("recipient", ""))

    def pacing(self, address: Address, message: Outbound | None = None) -> list[Limit]:
        return [Limit.rate("email:smtp", self.settings.email_rate)]

    def send(self, address: Address, message: Outbound, *, ref: str) -> str | None:
        record_id = int(ref.removeprefix("out-"))
        msg = self.compose(address, message, record_id)
        mail_dir = self.settings.effective_mail_dir
        if mail_dir is not None:
            write_eml(mail_dir, msg, ref)
        else:
            smtp_send(self.settings, msg, address.key)
        _sent(record_id, msg["Message-ID"])
        return msg["Message-ID"]

    def find_sent(self, address: Address, ref: str) -> str | None:
        """The Message-ID ``send`` records the moment the server (or the file) took it."""
        with db.session_scope() as s:
            return s.scalar(select(OutboundRecord.provider_message_id)
                            .where(OutboundRecord.id == int(ref.removeprefix("out-"))))

    # ---- what a message needs from the database ---------------------------------------------

    def compose(self, address: Address, message: Outbound, record_id: int) -> EmailMessage:
        settings, secret = self.settings, self.settings.secret_key
        domain = reply_domain(settings)
        message_id = outbound_message_id(secret, record_id, domain)
        base = settings.effective_public_base_url
        if address.data.get("pair"):
            return self.compose_thread(address, message, record_id, message_id)
        if message.interview_id is None:  # an invite to a web link, or a system note
            subject = address.data.get("subject") or "A message from Parley"
            invite_id = address.data.get("invite")
            unsubscribe = self.unsubscribe_url(invite_id) if invite_id else None
            mail = Mail(to=address.key, subject=subject, message_id=message_id,
                        unsubscribe=unsubscribe, reminder=bool(address.data.get("reminder")))
            return render_mail(message, mail, sender=from_address(settings))
        with db.session_scope() as s:
            interview = s.get(Interview, message.interview_id)
            subject = interview.session.name if interview else "Parley"
            earlier = list(s.scalars(
                select(OutboundRecord.provider_message_id)
                .where(OutboundRecord.interview_id == message.interview_id,
                       OutboundRecord.channel == "email", OutboundRecord.id < record_id,
                       OutboundRecord.provider_message_id.is_not(None))
                .order_by(OutboundRecord.id)))
            invite_id = interview.invite_id if interview else None
        theirs = address.data.get("message_id")
        thread = earlier[:1] + earlier[1:][-8:]  # the root and the latest few
        if theirs:
            thread.append(theirs)
        links = tuple(f"{base}/email/choose/"
                      f"{choice_token(secret, message.interview_id, record_id, c.value)}"
                      for c in message.choices)
        first = not earlier and invite_id  # the first message is the invite
        unsubscribe = self.unsubscribe_url(invite_id) if first else None
        mail = Mail(
            to=address.key, subject=("Re: " if earlier else "") + subject, message_id=message_id,
            reply_to=f"reply+{reply_token(secret, message.interview_id)}@{domain}",
            in_reply_to=theirs or (earlier[-1] if earlier else None), references=tuple(thread),
            choice_links=links, unsubscribe=unsubscribe,
            reminder=message.text in REMINDERS or bool(address.data.get("reminder")))
        return render_mail(message, mail, sender=from_address(settings))

    def compose_thread(self, address: Address, message: Outbound, record_id: int,
                       message_id: str) -> EmailMessage:
        """A 1-on-1 thread's message, in one person's copy of the thread: to them alone,
        threaded with their copy's earlier messages, replies to an address signed for
        them in this pair. An agenda item's message is answered with its choice's number."""
        pair_id, person_id = int(address.data["pair"]), int(address.data["person"])
        settings, leg = self.settings, f"p{person_id}"
        with db.session_scope() as s:
            earlier = [mid for mid, payload in s.execute(
                select(OutboundRecord.provider_message_id, OutboundRecord.payload)
                .where(OutboundRecord.one_on_one_id == pair_id,
                       OutboundRecord.channel == "email", OutboundRecord.id < record_id,
                       OutboundRecord.provider_message_id.is_not(None))
                .order_by(OutboundRecord.id)) if (payload or {}).get("leg") == leg]
        thread = earlier[:1] + earlier[1:][-8:]
        subject = address.data.get("subject") or "1-on-1"
        token = pair_reply_token(settings.secret_key, pair_id, person_id)
        mail = Mail(to=address.key,
                    subject=("Re: " if earlier else "") + subject, message_id=message_id,
                    reply_to=f"reply+{token}@{reply_domain(settings)}",
                    in_reply_to=earlier[-1] if earlier else None, references=tuple(thread),
                    reminder=True)  # written by Parley: no one's auto-reply answers it
        return render_mail(message, mail, sender=from_address(settings))

    def unsubscribe_url(self, invite_id: int) -> str:
        token = unsubscribe_token(self.settings.secret_key, invite_id)
        return f"{self.settings.effective_public_base_url}/email/unsubscribe/{token}"


    def settled(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Drop a web link's secret token from the outbox once the row is sent or failed for
        good: the raw token exists nowhere else, and it is the person's, not ours to keep."""
        text = payload.get("text", "")
        return {**payload, "text": LINK.sub(SCRUBBED, text)} if LINK.search(text) else payload


def _sent(record_id: int, message_id: str) -> None:
    """Record the Message-ID at once, before the outbox row is finished (so a retry after
    an interruption finds it)."""
    with db.session_scope() as s:
        s.execute(update(OutboundRecord).where(OutboundRecord.id == record_id)
                  .values(provider_message_id=message_id))


# ---- transports ------------------------------------------------------------------------------

def write_eml(mail_dir: Path, msg: EmailMessage, ref: str) -> Path:
    """Write the message as an owner-only .eml file (atomically: a reader never sees half)."""
    private_dir(mail_dir)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    path = mail_dir / f"{stamp}-{ref}.eml"
    partial = mail_dir / f".{path.name}.{uuid.uuid4().hex}.tmp"
    private_file(partial).write_bytes(msg.as_bytes(policy=policy.SMTP))
    partial.replace(path)
    return path


def tls_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.email_ca_file:
        context.load_verify_locations(settings.email_ca_file)
    return context


def plain_allowed(url) -> bool:
    """Mail may cross the wire unencrypted only to a relay on this host (as written in
    SMTP_URL: no name lookup decides it) or when the operator said so (``?tls=off``)."""
    if parse_qs(url.query).get("tls") == ["off"]:
        return True
    host = url.hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def smtp_send(settings: Settings, msg: EmailMessage, to: str) -> None:
    """One message through the relay. STARTTLS whenever the server offers it; credentials
    only over TLS. 5xx for the recipient → permanent; refused credentials → an operator."""
    url = urlsplit(settings.smtp_url)
    user, password = unquote(url.username or ""), unquote(url.password or "")
    host, implicit = url.hostname or "localhost", url.scheme == "smtps"
    port = url.port or (465 if implicit else 587)
    context = tls_context(settings)
    envelope_from = parseaddr(from_address(settings))[1]
    try:
        if implicit:
            conn = smtplib.SMTP_SSL(host, port, timeout=settings.smtp_timeout, context=context)
        else:
            conn = smtplib.SMTP(host, port, timeout=settings.smtp_timeout)
        try:
            conn.ehlo()
            secure = implicit
            if not implicit and conn.has_extn("starttls"):
                conn.starttls(context=context)
                conn.ehlo()
                secure = True
            if not secure and user:
                raise NeedsOperator(f"{host}:{port} does not offer STARTTLS; Parley will "
                                    "not send the SMTP password unencrypted")
            if not secure and not plain_allowed(url):
                raise NeedsOperator(f"{host}:{port} does not offer STARTTLS; Parley sends mail "
                                    "unencrypted only to a relay on this host (localhost, "
                                    "127.0.0.1) or when SMTP_URL ends in ?tls=off")
            if user:
                conn.login(user, password)
            conn.send_message(msg, from_addr=envelope_from, to_addrs=[to])
        except BaseException:
            conn.close()
            raise
        # the server took the message: it is sent, whatever becomes of the goodbye
        with contextlib.suppress(smtplib.SMTPException, OSError):
            conn.quit()
    except smtplib.SMTPAuthenticationError as exc:
        raise NeedsOperator(f"the SMTP server refused Parley's credentials: {exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise NeedsOperator(f"the certificate of {host}:{port} is not trusted ({exc.verify_message}"
                            "); set EMAIL_CA_FILE for a private CA") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        if code >= 500:
            raise PermanentError(f"the SMTP server refused {to}: {code} {text!r}") from exc
        raise
    except smtplib.SMTPSenderRefused as exc:
        if exc.smtp_code >= 500:
            raise NeedsOperator(f"the SMTP server refused the sender {envelope_from}: "
                                f"{exc.smtp_code}") from exc
        raise
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code == 554:  # transaction failed: content rejected for good
            raise PermanentError(f"the SMTP server rejected the message: {exc}") from exc
        raise


# ---- receiving ---------------------------------------------------------------------------------

def verify_mailgun(form, key: str, *, now: float | None = None) -> None:
    """Mailgun's webhook signature: hex HMAC-SHA256 of timestamp+token with the signing key;
    stale (over 5 minutes either way) or replayed tokens are refused too."""
    timestamp, token, signature = (form.get(k) or "" for k in ("timestamp", "token", "signature"))
    if not key:
        raise Forbidden("EMAIL_INBOUND_SIGNING_KEY is not set")
    if not (timestamp and token and signature) or not timestamp.isdigit() or len(token) > 200:
        raise Forbidden("timestamp, token and signature are required")
    signature = signature.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", signature):  # compare_digest takes ASCII text only
        raise Forbidden("invalid Mailgun signature")
    good = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(good, signature):
        raise Forbidden("invalid Mailgun signature")
    if abs((now or time.time()) - int(timestamp)) > MAX_AGE:
        raise Forbidden("stale Mailgun signature (more than 5 minutes old)")
    # RedisError propagates: the route answers 503 and Mailgun retries (a replay check
    # that was skipped would take a replayed token)
    if jobs.connection().exists(_token_key(token)):
        raise Forbidden("replayed Mailgun token")


def _token_key(token: str) -> str:
    return f"mailgun-token:{hashlib.sha256(token.encode()).hexdigest()}"


def remember_token(token: str) -> None:
    """A token is used up once its message is stored, not before: a request that failed
    inside may come again with it (Mailgun retries) and must then be taken."""
    try:
        jobs.connection().set(_token_key(token), 1, ex=2 * MAX_AGE + 60)
    except RedisError as exc:
        log.warning("queue unreachable, Mailgun token not kept for replay checks: %s", exc)


# The standard library's header parser fails on some malformed headers (AttributeError deep
# inside email._header_value_parser); such a header is read as its raw text instead.
PARSE_ERRORS = (MessageError, AttributeError, IndexError, ValueError, TypeError, LookupError)


def header(msg, name: str) -> str:
    """A header's value as text ("" when absent), never an exception."""
    try:
        return str(msg.get(name) or "")
    except PARSE_ERRORS:
        return next((str(v) for k, v in msg.raw_items() if k.lower() == name.lower()), "")


def auto_reply_reason(msg) -> str | None:
    """Why this message is an auto-reply or a bounce we must not answer, or None."""
    auto = header(msg, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if header(msg, name):
            return name
    precedence = header(msg, "Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    if msg.get_content_type() == "multipart/report":
        return "a delivery status notification"
    sender = normal_address(header(msg, "From"))
    if sender.split("@")[0] in ("mailer-daemon", "postmaster") or not sender:
        return "from a mail system"
    if OUT_OF_OFFICE.search(header(msg, "Subject")):
        return "an out-of-office subject"
    return None


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "head"):
            self.skip += 1
        if tag in ("br", "p", "div", "tr", "li", "blockquote", "h1", "h2", "h3"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("style", "script", "head") and self.skip:
            self.skip -= 1
        if tag in ("p", "div"):
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


def body_text(msg) -> str:
    """The text the person wrote: the plain part, else the HTML part as text."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
        if part is None:
            return ""
        try:
            content = part.get_content()
        except (LookupError, UnicodeError, AssertionError):  # an unknown charset
            content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
        return html_text(content) if part.get_content_type() == "text/html" else content
    except PARSE_ERRORS as exc:
        raise BadPayload(f"the message body cannot be read: {exc}") from None


def latest_reply(text: str) -> str:
    """What the person wrote this time: quoted history and signatures stripped."""
    text = text.replace("\r\n", "\n")
    # keep_hyphen_lists: an answer may well be a "- item" list, not a signature
    replies = ReplyThread(text=text, languages=list(LANGUAGES),
                          keep_hyphen_lists=True).read().replies
    reply = replies[0].body if replies else text
    lines = reply.strip().split("\n")
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        lines.pop()  # a quote the parser left after an "On … wrote:" it did not know
    return "\n".join(lines).strip()


def message_ids(value: str | None) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def inbound_from(raw: bytes, settings: Settings, *, authenticated: Callable[[Any], bool],
                 recipient: str = "") -> list[Inbound]:
    """A raw message → one Inbound for its interview, or [] to ignore it (auto-replies,
    bounces, and fresh mail whose sender nobody vouches for). Routing: the signed
    plus-address first, then the thread headers, then the sender when ``authenticated(msg)``
    says the From domain itself was authenticated (DMARC, or DKIM aligned with From)."""
    try:
        msg = message_from_bytes(raw, policy=policy.default)
    except PARSE_ERRORS as exc:
        raise BadPayload(f"the message cannot be parsed: {exc}") from None
    sender = normal_address(header(msg, "From"))
    to_headers = [header(msg, h) for h in ("To", "Cc", "Delivered-To")] + [recipient]
    if msg.defects and not msg.keys():
        raise BadPayload("the message has no headers")
    if not sender or "@" not in sender:
        raise BadPayload("the message has no From address")
    reason = auto_reply_reason(msg)
    if reason:
        log.info("email from %s ignored: %s", sender, reason)
        return []
    text = storable(latest_reply(body_text(msg)))[:MAX_TEXT + 1]
    if not text.strip():
        log.info("email from %s ignored: nothing above the quoted history", sender)
        return []
    event_id = (message_ids(header(msg, "Message-ID")) or [
        "<sha256:" + hashlib.sha256(raw).hexdigest() + ">"])[0][:200]
    thread = [*message_ids(header(msg, "In-Reply-To")),
              *reversed(message_ids(header(msg, "References")))]
    interview_id = pair_id = None
    for _name, addr in getaddresses(to_headers):
        local = addr.partition("@")[0].lower()
        if local.startswith("reply+"):
            token = local.removeprefix("reply+")
            interview_id = read_reply_token(settings.secret_key, token)
            pair_id = read_pair_reply_token(settings.secret_key, token)
            if interview_id or pair_id:
                break
    data = {"message_id": event_id}
    if pair_id is not None:
        return thread_reply(*pair_id, sender, text, event_id, thread)
    with db.session_scope() as s:
        by_thread = False
        if interview_id is None and thread:
            interview_id = s.scalar(
                select(OutboundRecord.interview_id)
                .where(OutboundRecord.channel == "email",
                       OutboundRecord.provider_message_id.in_(thread[:50]),
                       OutboundRecord.interview_id.is_not(None)).limit(1))
            by_thread = interview_id is not None
        if interview_id is not None:
            interview = s.get(Interview, interview_id)
            if interview is None:
                return []
            # Message-IDs are not secret (anyone in copy has them): by thread, only its person
            # (a person has one email, so an authenticated sender could be no one else)
            if by_thread and sender != (interview.person.email or "").lower():
                log.info("email from %s ignored: it is in interview %s's thread but not from "
                         "its person", sender, interview_id)
                return []
            # the signed address or our own Message-ID names the thread: answer its person
            sender = interview.person.email or sender
        elif not authenticated(msg):
            log.info("fresh email from %s ignored: no reply address, no thread, and its "
                     "From domain is not authenticated (DMARC, or DKIM of that domain)", sender)
            return []
        elif directory.by_email(s, sender) is None:  # answering strangers is backscatter
            log.info("fresh email from %s ignored: not in the directory", sender)
            return []
    return [Inbound(channel="email", event_id=event_id, sender=Address("email", sender, data),
                    text=text, interview_id=interview_id)]


def thread_reply(pair_id: int, person_id: int, sender: str, text: str, event_id: str,
                 thread: list[str]) -> list[Inbound]:
    """A reply in a 1-on-1 thread, from one of its two people: a choice of the message it
    answers (its number or label: an item's "1" is Discussed, the agenda's "3" is Done for
    today), else words about the pair (``bots.one_on_one`` reads "add: …", "note: …",
    "done for today")."""
    with db.session_scope() as s:  # the address is theirs: so must the sender be
        theirs = one_on_ones.email_of_member(s, pair_id, person_id)
        if theirs is None or sender != theirs:
            log.info("email from %s ignored: not the person 1-on-1 %s's address is for",
                     sender, pair_id)
            return []
        answered = s.execute(
            select(OutboundRecord.agenda_item_id, OutboundRecord.payload)
            .where(OutboundRecord.one_on_one_id == pair_id, OutboundRecord.channel == "email",
                   OutboundRecord.provider_message_id.in_(thread[:1]))).first()
    about, choice = f"pair:{pair_id}", None
    if answered is not None:  # a choice of the message it answers, by number or label
        choices = (answered.payload or {}).get("choices") or []
        word = text.strip().rstrip(".!").strip().lower()
        for n, c in enumerate(choices, 1):
            if word in (str(n), c.get("value", "").lower(), c.get("label", "").lower()):
                choice = c.get("value")
                if answered.agenda_item_id:
                    about = f"agenda:{answered.agenda_item_id}"
    return [Inbound(channel="email", event_id=event_id, sender=Address("email", sender),
                    text=text if choice is None else "", choice=choice, about=about)]


def from_domain(msg) -> str:
    return normal_address(header(msg, "From")).rpartition("@")[2]


def dkim_domains(msg) -> list[str]:
    """The d= of every DKIM-Signature the message carries."""
    values = [str(v) for k, v in msg.raw_items() if k.lower() == "dkim-signature"]
    return [m[1].lower() for v in values if (m := re.search(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", v))]


def mailgun_vouches(form, msg) -> bool:
    """Mailgun's DKIM verdict, for the From domain only. SPF describes the envelope sender,
    not From, so it vouches for nobody here; and Mailgun does not say which signature
    passed, so every signature must be the From domain's."""
    if (form.get("X-Mailgun-Dkim-Check-Result") or "").strip().lower() != "pass":
        return False
    domains, own = dkim_domains(msg), from_domain(msg)
    return bool(domains and own) and all(d == own for d in domains)


def auth_results_vouch(msg, authserv_id: str) -> bool:
    """DMARC pass, or DKIM pass with header.d = the From domain, in the topmost
    Authentication-Results header our own receiving server (``authserv_id``) added (RFC
    8601: anyone can write such a header; only the one naming our server is trusted)."""
    if not authserv_id:
        return False
    own = from_domain(msg)
    for key, value in msg.raw_items():
        if key.lower() != "authentication-results":
            continue
        text = re.sub(r"\([^()]*\)", " ", str(value)).lower()  # drop comments
        server, _, results = text.partition(";")
        if server.split()[:1] != [authserv_id.lower()]:
            continue
        for result in results.split(";"):
            method = re.match(r"\s*(dmarc|dkim)\s*=\s*(\w+)", result)
            props = dict(re.findall(r"\b(header\.[a-z]+)\s*=\s*([^\s;]+)", result))
            if not method or method[2] != "pass" or not own:
                continue
            if method[1] == "dmarc" and props.get("header.from", own) == own:
                return True
            if method[1] == "dkim" and props.get("header.d") == own:
                return True
        return False  # only the topmost of our own server's headers counts
    return False


def poll_imap() -> int:
    """Scheduler job: read unseen messages from IMAP_URL, hand each to the inbox once, then
    delete it from the mailbox (one that is ignored is only marked seen). A crash in between
    reads it again, and the inbox's Message-ID key drops the copy, so each message is
    processed exactly once."""
    settings = get_settings()
    if not settings.imap_url:
        return 0
    try:
        return _poll(settings)
    except (NeedsOperator, imaplib.IMAP4.error, ssl.SSLCertVerificationError) as exc:
        log.error("OPERATOR: IMAP_URL cannot be read, replies wait in the mailbox: %s", exc)
        return 0


def _poll(settings: Settings) -> int:
    url = urlsplit(settings.imap_url)
    host, folder = url.hostname or "localhost", unquote(url.path.lstrip("/")) or "INBOX"
    context = tls_context(settings)
    if url.scheme == "imaps":
        conn = imaplib.IMAP4_SSL(host, url.port or 993, ssl_context=context,
                                 timeout=settings.smtp_timeout)
    else:
        conn = imaplib.IMAP4(host, url.port or 143, timeout=settings.smtp_timeout)
    done = deleted = 0
    try:
        if url.scheme != "imaps":
            if "STARTTLS" in conn.capabilities:
                conn.starttls(ssl_context=context)
            elif url.username:
                raise NeedsOperator(f"{host} does not offer STARTTLS; Parley will not send "
                                    "the IMAP password unencrypted")
        if url.username:
            conn.login(unquote(url.username), unquote(url.password or ""))
        conn.select(_quote(folder))
        _, found = conn.uid("SEARCH", None, "UNSEEN")
        for uid in (found[0] or b"").split():
            _, data = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((part[1] for part in data if isinstance(part, tuple)), None)
            # a reply the inbox holds is deleted from the mailbox: an interview's answers
            # then live only in Parley, and deleting the interview leaves nothing behind
            taken = raw is not None and _take(raw, settings, uid.decode())
            typ, _ = conn.uid("STORE", uid, "+FLAGS",
                              "(\\Seen \\Deleted)" if taken else "(\\Seen)")
            deleted += taken and typ == "OK"
            done += 1
        if deleted:
            conn.expunge()
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()
    return done


TRANSIENT = (DBAPIError, RedisError, OSError, imaplib.IMAP4.error)


def _take(raw: bytes, settings: Settings, uid: str) -> bool:
    """One message from the mailbox into the inbox; True when the inbox holds it (now or
    from an earlier poll). Any error but a passing outage (the database, the network) is
    logged and the message counts as read: one bad message must never stall the mailbox
    for every later poll."""
    authserv_id = settings.email_authserv_id
    try:
        inbounds = inbound_from(raw, settings,
                                authenticated=lambda msg: auth_results_vouch(msg, authserv_id))
        accept(inbounds)
        return bool(inbounds)
    except BadPayload as exc:
        log.warning("IMAP message %s skipped: %s", uid, exc)
    except TRANSIENT:
        raise
    except Exception:
        log.exception("IMAP message %s skipped: it could not be read", uid)
    return False


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- invites by email --------------------------------------------------------------------------
# The email that carries a web invite's link is composed in the core (core.invites.link_mail),
# in the transaction that made the link, so a rollout can queue it; this module sends it.


# ---- Flask wiring ----------------------------------------------------------------------------

bp = Blueprint("email", __name__)


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


@bp.after_request
def _private(response):
    """The confirm pages' URLs carry signed tokens: keep them out of caches and referrers."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
    return response


MAX_INBOUND = 30 * 1024 * 1024  # a reply with photos; Mailgun caps a message at 25 MB


@bp.post("/email/inbound")
@bp.post("/email/inbound/mime")  # Mailgun posts the raw message only to a URL ending in mime
def inbound():
    """Mailgun's routed-message webhook: verify, parse, store once, answer at once."""
    request.max_content_length = MAX_INBOUND
    request.max_form_memory_size = MAX_INBOUND  # body-mime is a text field, in multipart too
    channel = EmailChannel(_settings())
    try:
        channel.verify(request)
    except Forbidden as exc:
        log.warning("email webhook refused: %s", exc)
        return {"error": {"code": "forbidden", "message": str(exc)}}, 403
    except RedisError as exc:
        log.warning("queue unreachable, Mailgun token cannot be checked; 503 so Mailgun "
                    "retries: %s", exc)
        return ({"error": {"code": "unavailable", "message": "try again later"}}, 503,
                {"Retry-After": "60"})
    try:
        inbounds = channel.parse(request)
    except BadPayload as exc:
        return {"error": {"code": "bad_request", "message": str(exc)}}, 400
    accepted = accept(inbounds)
    remember_token(request.form["token"])
    return {"accepted": accepted}, 200


@bp.get("/email/choose/<token>")
def confirm_choice(token: str):
    """A choice link from an email. A GET changes nothing (scanners open links): the page
    asks the person to confirm, and the confirmation POSTs."""
    found = read_choice_token(_settings().secret_key, token)
    if found is None:
        return render_template("email_choice.html", label=None), 404
    label = _label(*found)
    return render_template("email_choice.html", label=label, token=token, done=False)


@bp.post("/email/choose/<token>")
def choose(token: str):
    found = read_choice_token(_settings().secret_key, token)
    if found is None:
        return render_template("email_choice.html", label=None), 404
    interview_id, record_id, value = found
    with db.session_scope() as s:
        interview = s.get(Interview, interview_id)
        email = interview.person.email if interview else None
    if not email:
        return render_template("email_choice.html", label=None), 404
    accept([Inbound(channel="email", event_id=f"choice:{record_id}:{value}",
                    sender=Address("email", email), choice=value, interview_id=interview_id)])
    return render_template("email_choice.html", label=_label(*found), done=True)


def _label(interview_id: int, record_id: int, value: str) -> str:
    with db.session_scope() as s:
        record = s.get(OutboundRecord, record_id)
        choices = (record.payload.get("choices") or []) if record else []
    return next((c["label"] for c in choices if c.get("value") == value), value)


@bp.get("/email/unsubscribe/<token>")
def unsubscribe_page(token: str):
    if read_unsubscribe_token(_settings().secret_key, token) is None:
        return render_template("email_choice.html", label=None), 404
    return render_template("email_choice.html", label="Stop these emails",
                           token=token, unsubscribe=True, done=False)


@bp.post("/email/unsubscribe/<token>")
def unsubscribe(token: str):
    """One-click unsubscribe (RFC 8058): the invite's open interview is stopped, and an
    unopened web link no longer starts one."""
    invite_id = read_unsubscribe_token(_settings().secret_key, token)
    if invite_id is None:
        return render_template("email_choice.html", label=None), 404
    with db.session_scope() as s:
        invite = s.get(Invite, invite_id)
        if invite is None:
            return render_template("email_choice.html", label=None), 404
        interview = s.scalar(select(Interview).where(Interview.invite_id == invite_id)
                             .order_by(Interview.id.desc()).limit(1))
        email = invite.person.email
        if interview is None:
            s.execute(update(Invite).where(Invite.id == invite_id)
                      .values(expires_at=utcnow(), status_reason="unsubscribed by email"))
    if interview is not None and email:
        accept([Inbound(channel="email", event_id=f"unsubscribe:{interview.id}",
                        sender=Address("email", email), choice="stop",
                        interview_id=interview.id)])
    return render_template("email_choice.html", label="Stop these emails", unsubscribe=True,
                           done=True)


def init_app(app: Flask, settings: Settings) -> None:
    app.register_blueprint(bp)
