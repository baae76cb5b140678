"""`python app.py`: the whole of Parley on the embedded default, in one command.

Migrates, loads the SessionType library and the demo directory, starts the embedded Redis,
one RQ worker and the scheduler as child processes, and serves the web app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from core import db, directory, invites, jobs, library, sessions
from core.config import activate, load_settings
from core.models import Person, Session, SessionType
from web.logs import redact_link_tokens

DEMO_SESSION = "Stay Interview — demo"
DEMO_EMAIL = "lena.fischer@northwind.example"


def prepare(settings) -> str:
    """Migrate and seed; returns a fresh web-chat link for the demo participant."""
    db.upgrade(settings.effective_database_url)
    with db.session_scope() as s:
        library.load(s)
        directory.load_demo(s, library.demo_org())
        session = s.scalar(select(Session).where(Session.name == DEMO_SESSION))
        if session is None:
            stay = s.scalar(select(SessionType).where(SessionType.slug == "stay-interview"))
            session = sessions.create_from_type(s, stay, name=DEMO_SESSION, owner="demo")
        person = directory.by_email(s, DEMO_EMAIL) or s.scalar(select(Person).limit(1))
        _, token = invites.create(s, session, person, channel="web",
                                  ttl_days=settings.invite_ttl_days)
    return f"{settings.effective_public_base_url}/c/{token}"


def main() -> None:
    redact_link_tokens()  # werkzeug's request log shows /c/<redacted>
    settings = activate(load_settings())
    env = dict(os.environ, DATABASE_URL=settings.effective_database_url,
               SECRET_KEY=settings.secret_key, ADMIN_API_TOKEN=settings.admin_api_token,
               PORT=str(settings.port), VAR_DIR=str(settings.var_dir))
    redis_url = settings.redis_url or jobs.embedded_url(settings.var_dir)
    env["REDIS_URL"] = redis_url
    settings.redis_url = redis_url
    link = prepare(settings)

    bindir = Path(sys.executable).parent
    children = [
        subprocess.Popen([str(bindir / "rq"), "worker", "-c", "scheduler.worker_config",
                          "-w", "rq.worker.SimpleWorker", "--with-scheduler", "--quiet"],
                         env=env),
        subprocess.Popen([sys.executable, "-m", "scheduler"], env=env),
    ]

    def stop(*_):
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=10)
        jobs.stop_embedded()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    base = settings.effective_public_base_url
    banner = (
        f"\n  Parley is running (embedded default: SQLite + embedded Redis in {settings.var_dir})\n"
        f"  API base URL:   {base}/api/v1\n"
        f"  Admin token:    {settings.admin_api_token}\n"
        f"  Web-chat link:  {link}\n"
        f"  Try:  curl -H 'Authorization: Bearer {settings.admin_api_token}' "
        f"{base}/api/v1/session-types\n"
    )
    from werkzeug.serving import make_server

    from app import create_app

    server = make_server("127.0.0.1", settings.port, create_app({"redis_url": redis_url}),
                         threaded=True)  # bound before the banner says it is running
    print(banner, flush=True)
    try:
        server.serve_forever()
    finally:
        stop()
