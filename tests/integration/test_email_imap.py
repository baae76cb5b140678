"""Replies read from a mailbox (IMAP_URL), the self-hosted alternative to a webhook: the
scheduler's job reads unseen messages from a loopback IMAP4rev1 server, hands each to the
inbox exactly once and deletes it from the mailbox (what it ignores is marked seen);
credentials only over TLS."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import db
from core.config import load_settings
from core.models import InboundEvent
from scheduler.__main__ import _enqueue, schedule
from tests.integration.test_email_replies import ANSWER, invite_by_email, participant_turns, state
from tests.support.email_chat import EmailChat, client_reply
from tests.support.factories import ApiClient
from tests.support.imap_server import ImapServer, Mailbox
from tests.support.mail import Recorder, self_signed, server_context, smtp_server
from tests.support.worker import run_jobs


@pytest.fixture
def cert(tmp_path):
    return self_signed(tmp_path)


@pytest.fixture
def mailbox():
    return Mailbox()


def _world(make_app, request, cert, mailbox, *, scheme="imaps", implicit=True, tls=True,
           **settings):
    recorder = Recorder()
    smtp = smtp_server(recorder, starttls=cert)
    request.addfinalizer(smtp.stop)
    imap = ImapServer(mailbox, context=server_context(*cert) if tls else None,
                      implicit=implicit)
    request.addfinalizer(imap.stop)
    app = make_app(library=True, smtp_url=f"smtp://parley:s3cret@127.0.0.1:{smtp.port}",
                   email_ca_file=str(cert[0]), email_from="Northwind HR <hr@northwind.example>",
                   imap_url=f"{scheme}://parley:s3cret@127.0.0.1:{imap.port}/INBOX", **settings)
    return EmailChat(app, recorder, ApiClient(app.test_client(), "test-admin-token"))


def poll() -> None:
    """What the scheduler does every IMAP_EVERY seconds: enqueue the job; the worker runs it."""
    _enqueue("channels.email.poll_imap", 20)
    run_jobs()
    run_jobs()  # the inbound jobs the poll enqueued, and their replies


def inbox_count() -> int:
    with db.session_scope() as s:
        return s.scalar(select(func.count()).select_from(InboundEvent))


def test_the_scheduler_polls_imap_only_when_it_is_set(tmp_path):
    plain = load_settings(var_dir=tmp_path, secret_key="k", admin_api_token="t")
    assert "channels.email.poll_imap" not in schedule(plain)
    imap = load_settings(var_dir=tmp_path, secret_key="k", admin_api_token="t",
                         imap_url="imaps://u:p@imap.example/INBOX")
    assert "channels.email.poll_imap" in schedule(imap)


def test_replies_from_the_mailbox_are_processed_once_and_then_deleted(make_app, request,
                                                                     cert, mailbox):
    chat = _world(make_app, request, cert, mailbox)
    invite_by_email(chat)
    old = mailbox.add(client_reply(chat.last, "2"), seen=True)  # read by someone already
    accept = mailbox.add(client_reply(chat.last, "1"))
    away = mailbox.add(client_reply(chat.last, "Away", headers={"Auto-Submitted": "auto-replied"}))
    poll()
    assert state() == "in_progress"  # "1" accepted; the seen "2" was not read
    assert not mailbox.holds(accept)  # in the inbox now: deleted from the mailbox
    assert mailbox.seen(away) and mailbox.seen(old)  # ignored: kept, and not read again
    assert inbox_count() == 1
    answer = mailbox.add(client_reply(chat.last, ANSWER, quote="apple"))
    poll()
    assert participant_turns()[-1] == ANSWER and not mailbox.holds(answer)
    poll()  # nothing new
    assert inbox_count() == 2
    assert all(tls for tls, line in mailbox.commands if " LOGIN " in line)


def test_a_message_whose_mark_did_not_stick_is_still_processed_once(make_app, request, cert,
                                                                    mailbox):
    chat = _world(make_app, request, cert, mailbox)
    invite_by_email(chat)
    uid = mailbox.add(client_reply(chat.last, "1"))
    mailbox.refuse_store = 1
    poll()
    assert not mailbox.seen(uid) and inbox_count() == 1
    sent = len(chat.recorder.received)
    poll()  # read again: the inbox knows its Message-ID
    assert not mailbox.holds(uid) and inbox_count() == 1 and len(chat.recorder.received) == sent


def test_a_refused_starttls_logs_out_and_never_sends_the_password(make_app, request, cert,
                                                                 mailbox):
    chat = _world(make_app, request, cert, mailbox, scheme="imap", implicit=False)
    invite_by_email(chat)
    uid = mailbox.add(client_reply(chat.last, "1"))
    mailbox.refuse_starttls = True
    poll()
    lines = [line for _, line in mailbox.commands]
    assert not any(" LOGIN " in line for line in lines)
    assert lines[-1].endswith(" LOGOUT")  # the connection is closed, not left open
    assert not mailbox.seen(uid) and state() == "consent"


def test_imap_with_starttls_logs_in_only_after_it(make_app, request, cert, mailbox):
    chat = _world(make_app, request, cert, mailbox, scheme="imap", implicit=False)
    invite_by_email(chat)
    mailbox.add(client_reply(chat.last, "1"))
    poll()
    assert state() == "in_progress"
    [login] = [tls for tls, line in mailbox.commands if " LOGIN " in line]
    assert login and any("STARTTLS" in line for _, line in mailbox.commands)


def test_imap_without_starttls_never_sends_the_password(make_app, request, cert, mailbox):
    chat = _world(make_app, request, cert, mailbox, scheme="imap", implicit=False, tls=False)
    invite_by_email(chat)
    uid = mailbox.add(client_reply(chat.last, "1"))
    poll()
    assert not any(" LOGIN " in line for _, line in mailbox.commands)
    assert not mailbox.seen(uid) and state() == "consent"


def test_a_message_that_cannot_be_parsed_is_skipped_and_never_stalls_the_mailbox(
        make_app, request, cert, mailbox):
    chat = _world(make_app, request, cert, mailbox)
    invite_by_email(chat)
    bad = mailbox.add(b"From: a@b.example\r\nContent-Type: +,#&0;b}a*\r\n\r\nhi\r\n")
    good = mailbox.add(client_reply(chat.last, "1"))
    poll()
    assert mailbox.seen(bad) and not mailbox.holds(good)  # logged and marked seen
    assert state() == "in_progress"


def _fresh(sender: str = "Ada Lovelace <ada@northwind.example>", results: str = "") -> bytes:
    from email.message import EmailMessage
    from email.utils import make_msgid

    msg = EmailMessage()
    for line in filter(None, results.split("\n")):
        msg["Authentication-Results"] = line
    msg["From"], msg["To"], msg["Subject"] = sender, "hr@northwind.example", "My answer"
    msg["Message-ID"] = make_msgid(domain="mail.example.com")
    msg.set_content(ANSWER + "\n")
    return msg.as_bytes()


def test_fresh_mail_is_routed_by_sender_only_on_our_own_servers_aligned_verdict(
        make_app, request, cert, mailbox):
    chat = _world(make_app, request, cert, mailbox, email_authserv_id="mx.northwind.example")
    invite_by_email(chat)
    mailbox.add(client_reply(chat.last, "1"))
    poll()
    before = participant_turns()
    for forged in [
        "",  # nobody vouches
        "mx.northwind.example; spf=pass smtp.mailfrom=ada@northwind.example",  # envelope only
        "mx.northwind.example; dkim=pass header.d=evil.example",  # another domain's key
        "mx.evil.example; dmarc=pass header.from=northwind.example",  # not our server
        "mx.northwind.example; dmarc=fail header.from=northwind.example\n"
        "mx.northwind.example; dmarc=pass header.from=northwind.example",  # only the top one
    ]:
        mailbox.add(_fresh(results=forged))
    poll()
    assert participant_turns() == before
    mailbox.add(_fresh(results="mx.northwind.example; dkim=pass (2048-bit key) "
                               "header.d=northwind.example header.i=@northwind.example"))
    poll()
    assert participant_turns()[-1] == ANSWER


def test_without_an_authserv_id_fresh_mail_over_imap_is_not_routed(make_app, request, cert,
                                                                  mailbox):
    chat = _world(make_app, request, cert, mailbox)
    invite_by_email(chat)
    mailbox.add(client_reply(chat.last, "1"))
    poll()
    before = participant_turns()
    mailbox.add(_fresh(results="mx.northwind.example; dmarc=pass header.from=northwind.example"))
    poll()
    assert participant_turns() == before
