"""Email benchmark: N web invites whose links go out by email, through the real outbox and a
real RQ worker, to a loopback SMTP server offering STARTTLS and AUTH (one connection, TLS
handshake and login per message, as ``channels.email.smtp_send`` does), and to .eml files.

    .venv/bin/python -m bench.email [--invites N] [--rate R] [--json]

A throwaway back end in a temp dir (SQLite file + embedded Redis), the library loaded; the
invites are created through the HR API; then one in-process RQ worker drains the outbox.
Prints messages per second, duplicates (by recipient) and failures. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from core import db, jobs
from core.config import using
from core.models import OutboundRecord
from tests.support.factories import ApiClient, make_session
from tests.support.mail import Recorder, self_signed, smtp_server
from tests.support.worker import run_jobs

ADMIN = "bench-admin-token"


def run(invites: int, rate: float, mode: str, tmp: Path) -> dict:
    from sqlalchemy import select

    from app import create_app
    from channels.email import LINK

    recorder, server = Recorder(), None
    options = {"var_dir": tmp, "database_url": f"sqlite:///{tmp / 'parley.db'}",
               "redis_url": jobs.embedded_url(tmp / "redis"), "secret_key": "bench",
               "admin_api_token": ADMIN, "email_rate": rate,
               "email_from": "HR <hr@northwind.example>"}
    if mode == "smtp":
        cert = self_signed(tmp)
        server = smtp_server(recorder, starttls=cert)
        options.update(smtp_url=f"smtp://parley:s3cret@127.0.0.1:{server.port}",
                       email_ca_file=str(cert[0]))
    else:
        options.update(mail_dir=str(tmp / "mail"))
    db.upgrade(options["database_url"])
    app = create_app(options)
    try:
        with using(app.config["SETTINGS"]):
            from core import library

            with db.session_scope() as s:
                library.load(s)
            api = ApiClient(app.test_client(), ADMIN)
            session = make_session(api, "onboarding-30-day")
            for n in range(invites):
                api.post(f"/sessions/{session['id']}/invites",
                         {"person": {"name": f"P{n}", "email": f"p{n}@northwind.example"},
                          "channel": "web"})
            started = time.perf_counter()
            run_jobs()
            elapsed = time.perf_counter() - started
            with db.session_scope() as s:
                rows = list(s.scalars(select(OutboundRecord)))
                statuses = dict(Counter(r.status for r in rows))
                secrets_left = sum(bool(LINK.search(r.payload["text"])) for r in rows)
        sent = (len(recorder.received) if mode == "smtp"
                else len(list((tmp / "mail").glob("*.eml"))))
        to = Counter(r["to"][0] for r in recorder.received)
        return {"mode": mode, "invites": invites, "rate_limit": rate, "delivered": sent,
                "seconds": round(elapsed, 2), "per_second": round(sent / elapsed, 1),
                "duplicates": sum(c - 1 for c in to.values()), "statuses": statuses,
                "links_left_in_outbox": secrets_left}
    finally:
        if server is not None:
            server.stop()
        jobs.stop_embedded()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invites", type=int, default=200)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="EMAIL_RATE (messages/s); high by default to measure the path")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for mode in ("smtp", "eml"):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run(args.invites, args.rate, mode, Path(tmp)))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"{r['mode']:>4}: {r['delivered']}/{r['invites']} invites in {r['seconds']} s "
              f"= {r['per_second']} msg/s (EMAIL_RATE {r['rate_limit']}), "
              f"duplicates {r['duplicates']}, outbox {r['statuses']}, "
              f"secret links left in the outbox {r['links_left_in_outbox']}")


if __name__ == "__main__":
    main()
