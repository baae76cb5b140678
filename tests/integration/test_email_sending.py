"""Email out: a web invite's link reaches the person by email, as an .eml file on the
embedded default and through a real SMTP server (STARTTLS, SMTPS) when SMTP_URL is set;
credentials never cross an unencrypted connection; the secret link leaves the outbox once
it is sent."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import select

from core import db
from core.config import load_settings
from core.models import OutboundRecord
from tests.support.factories import ApiClient, make_session
from tests.support.mail import Recorder, self_signed, smtp_server
from tests.support.worker import run_jobs

ADMIN = "test-admin-token"
FROM = "Northwind HR <hr@northwind.example>"
REPLY_DOMAIN = "reply.northwind.example"


@pytest.fixture
def cert(tmp_path):
    return self_signed(tmp_path)


@pytest.fixture
def recorder():
    return Recorder()


def _start(request, recorder, **options):
    controller = smtp_server(recorder, **options)
    request.addfinalizer(controller.stop)
    return controller


def _invite(app, email="ada@northwind.example", channel="web"):
    api = ApiClient(app.test_client(), ADMIN)
    session = make_session(api, "onboarding-30-day", name="30-Day Onboarding Check-In")
    resp = api.post(f"/sessions/{session['id']}/invites",
                    {"person": {"name": "Ada Lovelace", "email": email}, "channel": channel})
    assert resp.status_code == 201, resp.get_json()
    run_jobs()
    return resp.get_json()


def _parts(message):
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def _outbox():
    with db.session_scope() as s:
        return [(r.status, r.payload["text"], r.provider_message_id, r.last_error)
                for r in s.scalars(select(OutboundRecord).where(OutboundRecord.channel == "email"))]


def test_a_web_invite_on_the_embedded_default_is_a_readable_eml_with_the_link(make_app,
                                                                             tmp_path):
    mail_dir = tmp_path / "mail"
    app = make_app(library=True, mail_dir=str(mail_dir), email_from=FROM,
                   email_reply_domain=REPLY_DOMAIN)
    invite = _invite(app)
    [path] = list(mail_dir.glob("*.eml"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(mail_dir).st_mode) == 0o700
    from email import message_from_bytes, policy

    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "ada@northwind.example"
    assert message["Subject"] == "30-Day Onboarding Check-In: your private link"
    assert message.get_content_type() == "multipart/alternative"
    text, html = _parts(message)
    assert invite["link"] in text and f'href="{invite["link"]}"' in html
    assert "Hi Ada" in text and "HR will see them with your name" in text
    expires = invite["expires_at"][:10]
    assert "It works until" in text and str(int(expires[8:10])) in text
    assert message["List-Unsubscribe"].strip().startswith("<http://parley.test/email/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"].endswith(f"@{REPLY_DOMAIN}>")
    [(status, stored, message_id, _)] = _outbox()
    assert status == "sent" and message_id == message["Message-ID"].strip()
    assert invite["link"] not in stored and "[link removed after sending]" in stored


def test_the_embedded_default_writes_mail_to_var_mail_and_production_does_not(tmp_path):
    embedded = load_settings(var_dir=tmp_path, secret_key="k", admin_api_token="t")
    assert embedded.effective_mail_dir == tmp_path / "mail" and embedded.email_enabled
    postgres = load_settings(var_dir=tmp_path, database_url="postgresql://h/db",
                             secret_key="k", admin_api_token="t")
    assert postgres.effective_mail_dir is None and not postgres.email_enabled
    relay = load_settings(var_dir=tmp_path, smtp_url="smtp://relay:587", secret_key="k",
                          admin_api_token="t")
    assert relay.effective_mail_dir is None and relay.email_enabled
    from web.devserver import mail_line

    assert str(tmp_path / "mail") in mail_line(embedded)
    assert "s3cret" not in mail_line(load_settings(
        var_dir=tmp_path, smtp_url="smtp://u:s3cret@relay:587", secret_key="k",
        admin_api_token="t"))


def test_with_smtp_url_the_invite_arrives_over_starttls_after_login(make_app, request,
                                                                   recorder, cert):
    server = _start(request, recorder, starttls=cert)
    app = make_app(library=True, email_from=FROM, email_reply_domain=REPLY_DOMAIN,
                   smtp_url=f"smtp://parley:s3cret@127.0.0.1:{server.port}",
                   email_ca_file=str(cert[0]))
    invite = _invite(app)
    [got] = recorder.received
    assert got["tls"] and got["login"] == b"parley"
    assert got["to"] == ["ada@northwind.example"] and got["from"] == "hr@northwind.example"
    text, html = _parts(got["message"])
    assert invite["link"] in text and invite["link"] in html
    assert [s for s, *_ in _outbox()] == ["sent"]


def test_smtps_sends_over_implicit_tls(make_app, request, recorder, cert):
    server = _start(request, recorder, implicit=cert)
    app = make_app(library=True, email_from=FROM,
                   smtp_url=f"smtps://parley:s3cret@127.0.0.1:{server.port}",
                   email_ca_file=str(cert[0]))
    _invite(app)
    [got] = recorder.received
    assert got["tls"] and got["login"] == b"parley"


def test_credentials_are_never_sent_to_a_server_without_starttls(make_app, request,
                                                                recorder):
    server = _start(request, recorder)  # offers AUTH in the clear, no STARTTLS
    app = make_app(library=True, email_from=FROM,
                   smtp_url=f"smtp://parley:s3cret@127.0.0.1:{server.port}")
    _invite(app)
    assert recorder.received == [] and recorder.auth_attempts == []
    [(status, _, _, error)] = _outbox()
    assert status == "held" and "STARTTLS" in error  # an operator must fix the relay


def test_a_server_without_starttls_may_relay_without_credentials(make_app, request, recorder):
    server = _start(request, recorder)  # e.g. a local relay on the same host
    app = make_app(library=True, email_from=FROM, smtp_url=f"smtp://127.0.0.1:{server.port}")
    _invite(app)
    [got] = recorder.received
    assert not got["tls"] and got["login"] is None


# 0.0.0.0 reaches this host but is no loopback name: it stands for a relay elsewhere
def test_mail_is_not_sent_unencrypted_to_a_relay_elsewhere(make_app, request, recorder):
    server = _start(request, recorder)  # no STARTTLS (or an attacker stripped it)
    app = make_app(library=True, email_from=FROM, smtp_url=f"smtp://0.0.0.0:{server.port}")
    _invite(app)
    assert recorder.received == []
    [(status, _, _, error)] = _outbox()
    assert status == "held" and "tls=off" in error  # an operator decides


def test_smtp_url_can_opt_out_of_tls_explicitly(make_app, request, recorder):
    server = _start(request, recorder)
    app = make_app(library=True, email_from=FROM,
                   smtp_url=f"smtp://0.0.0.0:{server.port}?tls=off")
    _invite(app)
    [got] = recorder.received
    assert not got["tls"] and [s for s, *_ in _outbox()] == ["sent"]


def test_a_refused_recipient_fails_for_good_and_is_visible(make_app, request, recorder, cert):
    recorder.refuse["ghost@northwind.example"] = "550 5.1.1 no such user"
    server = _start(request, recorder, starttls=cert)
    app = make_app(library=True, email_from=FROM, email_ca_file=str(cert[0]),
                   smtp_url=f"smtp://parley:s3cret@127.0.0.1:{server.port}")
    _invite(app, email="ghost@northwind.example")
    [(status, _, _, error)] = _outbox()
    assert status == "failed" and "550" in error and recorder.received == []



def test_a_link_that_could_not_be_delivered_leaves_the_outbox_and_marks_the_invite(
        make_app, request, recorder, cert):
    recorder.refuse["ghost@northwind.example"] = "550 5.1.1 no such user"
    server = _start(request, recorder, starttls=cert)
    app = make_app(library=True, email_from=FROM, email_ca_file=str(cert[0]),
                   smtp_url=f"smtp://parley:s3cret@127.0.0.1:{server.port}")
    invite = _invite(app, email="ghost@northwind.example")
    [(status, stored, _, _)] = _outbox()
    assert status == "failed"
    assert invite["link"] not in stored and "[link removed after sending]" in stored
    with db.session_scope() as s:
        from core.models import Invite

        row = s.get(Invite, invite["id"])
        assert row.status == "unreachable" and "550" in row.status_reason


def test_a_held_link_is_kept_for_the_next_try(make_app, request, recorder):
    server = _start(request, recorder)  # no STARTTLS: held for an operator, tried again
    app = make_app(library=True, email_from=FROM,
                   smtp_url=f"smtp://parley:s3cret@127.0.0.1:{server.port}")
    invite = _invite(app)
    [(status, stored, _, _)] = _outbox()
    assert status == "held" and invite["link"] in stored
    with db.session_scope() as s:
        from core.models import Invite

        assert s.get(Invite, invite["id"]).status == "sent"  # not given up on


def test_an_smtp_outage_is_retried_and_sent_once(make_app, request, recorder, cert):
    server = smtp_server(recorder, starttls=cert)
    port = server.port
    server.stop()  # nobody listens: the first attempt fails
    app = make_app(library=True, email_from=FROM, email_ca_file=str(cert[0]),
                   smtp_url=f"smtp://parley:s3cret@127.0.0.1:{port}")
    _invite(app)
    [(status, _, _, error)] = _outbox()
    assert status == "pending" and error
    again = smtp_server(recorder, starttls=cert, port=port)  # back, at the same address
    request.addfinalizer(again.stop)
    run_jobs(retries=True)
    run_jobs(retries=True)
    assert len(recorder.received) == 1 and [s for s, *_ in _outbox()] == ["sent"]


def test_an_untrusted_certificate_holds_the_mail_for_an_operator(make_app, request, recorder,
                                                                cert):
    server = _start(request, recorder, starttls=cert)
    app = make_app(library=True, email_from=FROM,  # no EMAIL_CA_FILE: a self-signed relay
                   smtp_url=f"smtp://parley:s3cret@127.0.0.1:{server.port}")
    _invite(app)
    [(status, _, _, error)] = _outbox()
    assert status == "held" and "EMAIL_CA_FILE" in error and recorder.received == []


def test_a_message_the_server_took_is_sent_once_even_if_the_goodbye_fails(make_app, request,
                                                                          recorder, cert):
    recorder.quit_reply = "421 4.3.2 shutting down"  # after DATA was accepted
    server = _start(request, recorder, starttls=cert)
    app = make_app(library=True, email_from=FROM, email_ca_file=str(cert[0]),
                   smtp_url=f"smtp://parley:s3cret@127.0.0.1:{server.port}")
    _invite(app)
    run_jobs(retries=True)
    [got] = recorder.received
    [(status, _, message_id, _)] = _outbox()
    assert status == "sent" and message_id == got["message"]["Message-ID"].strip()


def test_every_attempt_at_one_outbox_row_is_the_same_message(make_app, tmp_path):
    from channels.email import EmailChannel
    from core.messages import Address, Outbound

    app = make_app(library=True, mail_dir=str(tmp_path / "mail"), email_from=FROM,
                   email_reply_domain=REPLY_DOMAIN)
    channel = EmailChannel(app.config["SETTINGS"])
    to = Address("email", "ada@northwind.example")
    first, again = (channel.compose(to, Outbound("Hi"), 7) for _ in range(2))
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"].endswith(f"@{REPLY_DOMAIN}>")
    assert channel.compose(to, Outbound("Hi"), 8)["Message-ID"] != first["Message-ID"]
    other = EmailChannel(load_settings(**{**app.config["SETTINGS"].model_dump(),
                                          "secret_key": "another install"}))
    assert other.compose(to, Outbound("Hi"), 7)["Message-ID"] != first["Message-ID"]
