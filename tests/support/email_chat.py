"""An interview by email as a script (STYLE.md 11): HR invites through the API, mail goes
through a real SMTP server on loopback, and the person answers by replying as a real mail
client does (quoting the message, "On … wrote:"), delivered by Mailgun's routed-message
webhook, signed as Mailgun signs it."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from core.models import utcnow
from tests.support.factories import ApiClient
from tests.support.mail import mailgun_form
from tests.support.worker import run_jobs

SIGNING_KEY = "key-mailgun-test"
ADA = "Ada Lovelace <ada@northwind.example>"


def client_reply(parent, text: str, *, sender: str = ADA, to: str | None = None,
                 threaded: bool = True, headers: dict[str, str] | None = None,
                 quote: str = "gmail") -> bytes:
    """A reply as a mail client writes it: new text on top, the parent quoted below."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to or str(parent["Reply-To"] or parent["From"])
    msg["Subject"] = "Re: " + str(parent["Subject"]).removeprefix("Re: ")
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain="mail.gmail.com")
    if threaded:
        msg["In-Reply-To"] = str(parent["Message-ID"]).strip()
        refs = str(parent["References"] or "").split() + [str(parent["Message-ID"]).strip()]
        msg["References"] = " ".join(refs)
    for name, value in (headers or {}).items():
        msg[name] = value
    quoted = "\n".join("> " + line for line in
                       parent.get_body(("plain",)).get_content().splitlines())
    intro = {"gmail": f"On Mon, Nov 2, 2026 at 9:14 AM {parent['From']} wrote:",
             "apple": f"On 2 Nov 2026, at 09:14, {parent['From']} wrote:"}[quote]
    msg.set_content(f"{text}\n\n{intro}\n{quoted}\n")
    return msg.as_bytes()


class EmailChat:
    """``chat.invite()``; ``chat.reply("1")``; ``chat.last`` is the newest mail received."""

    def __init__(self, app, recorder, api: ApiClient):
        self.app, self.client, self.recorder, self.api = app, app.test_client(), recorder, api

    @property
    def last(self):
        return self.recorder.messages[-1]

    @property
    def text(self) -> str:
        return self.last.get_body(("plain",)).get_content()

    def post(self, raw: bytes, **form) -> int:
        resp = self.client.post("/email/inbound/mime",
                                data=mailgun_form(SIGNING_KEY, raw, **form))
        run_jobs()
        return resp.status_code

    def reply(self, text: str, **kw) -> EmailChat:
        before = len(self.recorder.received)
        assert self.post(client_reply(self.last, text, **kw)) == 200
        assert len(self.recorder.received) > before, f"no answer to {text!r}"
        return self
