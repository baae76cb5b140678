"""`python app.py`: the whole of Parley on the embedded default, in one command.

Migrates, loads the SessionType library and the demo directory, starts the embedded Redis,
one RQ worker and the scheduler as child processes, and serves the web app. Ctrl-C or
SIGTERM stops all of it: the children get SIGTERM, then SIGKILL after a grace period (an RQ
worker's warm shutdown waits for its job, however stuck), and the embedded Redis goes last.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select, update
from werkzeug.serving import WSGIRequestHandler, make_server

from core import accounts, db, directory, invites, jobs, library, sessions
from core.config import activate, load_settings
from core.models import ApiToken, Person, Session, SessionType, User, utcnow
from web.logs import redact_link_tokens

DEMO_SESSION = "Stay Interview — demo"
DEMO_EMAIL = "lena.fischer@northwind.example"
FIRST_OWNER = "hr@northwind.example"  # the dashboard's first account, on the embedded default
GRACE = 5.0  # seconds the children get to finish on their own before they are killed


def prepare(settings) -> tuple[str, str]:
    """Migrate and seed; returns a fresh web-chat link for the demo participant and the
    dashboard's first sign-in (``first_sign_in``)."""
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
        return f"{settings.effective_public_base_url}/c/{token}", first_sign_in(s)


def first_sign_in(s) -> str:
    """How the first owner gets into the dashboard. The first start makes the account
    ``FIRST_OWNER``; while it has no password, each start prints a new one-time sign-in link
    (24 hours) whose page sets one, and ends the links earlier starts printed. Only that
    account: a real owner who was sent a link of their own is never given one here."""
    owner = s.scalar(select(User).where(User.email == FIRST_OWNER))
    if owner is None:
        if s.scalar(select(User.id).where(User.role == "owner").limit(1)) is not None:
            return "sign in as an owner (parley users link EMAIL prints a new link)"
        owner = accounts.create_user(s, email=FIRST_OWNER, role="owner", name="HR (demo)")
    if owner.password_hash is not None or not owner.active:
        return f"sign in as {owner.email} with the password you chose"
    s.execute(update(ApiToken).where(ApiToken.user_id == owner.id, ApiToken.kind == "link",
                                     ApiToken.name == "make run",
                                     ApiToken.revoked_at.is_(None))
              .values(revoked_at=utcnow()))
    _, value = accounts.issue_token(s, owner, kind="link", name="make run")
    return f"{accounts.signin_url(value)}  (once: choose a password for {owner.email})"


def main() -> None:
    redact_link_tokens()  # werkzeug's request log shows /c/<redacted>
    settings = activate(load_settings())
    env = dict(os.environ, DATABASE_URL=settings.effective_database_url,
               SECRET_KEY=settings.secret_key, ADMIN_API_TOKEN=settings.admin_api_token,
               PORT=str(settings.port), VAR_DIR=str(settings.var_dir))
    if settings.effective_mail_dir is not None:  # children get DATABASE_URL, so say it here
        env["MAIL_DIR"] = str(settings.effective_mail_dir)
    children: list[subprocess.Popen] = []
    for sig in (signal.SIGINT, signal.SIGTERM):  # even where a shell ignores SIGINT
        signal.signal(sig, _unwind)
    try:
        settings.redis_url = env["REDIS_URL"] = (
            settings.redis_url or jobs.embedded_url(settings.var_dir))
        link, owner = prepare(settings)
        bindir = Path(sys.executable).parent
        for argv in ([str(bindir / "rq"), "worker", "-c", "scheduler.worker_config",
                      "-w", "rq.worker.SimpleWorker", "--with-scheduler", "--quiet"],
                     [sys.executable, "-m", "scheduler"]):
            # A group of its own: the terminal's Ctrl-C reaches only us, we stop the children
            # (and the worker's own scheduler child) in order.
            children.append(subprocess.Popen(argv, env=env, process_group=0))
        from app import create_app

        app = create_app({"redis_url": settings.redis_url})
        server = make_server("127.0.0.1", settings.port, app, threaded=True,
                             request_handler=QuietPolls)
        print(banner(settings, link, owner), flush=True)  # bound before it says it runs
        server.serve_forever()
    finally:
        stop(children)


def _unwind(*_) -> None:
    """Ctrl-C and SIGTERM leave ``main`` through its ``finally``, which stops everything."""
    sys.exit(0)


def banner(settings, link: str, owner: str) -> str:
    base, token = settings.effective_public_base_url, settings.admin_api_token
    return (
        f"\n  Parley is running (embedded default: SQLite + embedded Redis in {settings.var_dir})\n"
        f"  HR dashboard:   {base}/dashboard/\n"
        f"  First sign-in:  {owner}\n"
        f"  API base URL:   {base}/api/v1\n"
        f"  Admin token:    {token}\n"
        f"  Web-chat link:  {link}\n"
        f"  Try:  curl -H 'Authorization: Bearer {token}' {base}/api/v1/session-types\n"
        f"  HR accounts:    .venv/bin/parley users create --owner you@company.com\n"
        f"{mail_line(settings)}"
        f"  Ctrl-C stops everything.\n"
    )


def mail_line(settings) -> str:
    """Where email goes: a new user sees what employees would receive."""
    if settings.effective_mail_dir is not None:
        return (f"  Email:          written as .eml files to {settings.effective_mail_dir} "
                "(set SMTP_URL to send)\n")
    if settings.smtp_url:
        return f"  Email:          sent through {settings.smtp_url.split('@')[-1]}\n"
    return ""


def stop(children: list[subprocess.Popen]) -> None:
    """SIGTERM to each child's group, SIGKILL to whatever is left after GRACE, then the
    embedded Redis (its clients gone, it saves and exits). A second Ctrl-C cannot cut it short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("\n  Stopping Parley …", flush=True)
    for child in children:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            child.wait()
        _signal_group(child, signal.SIGKILL)  # a grandchild the child left behind
    jobs.stop_embedded()


def _signal_group(child: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, sig)


class QuietPolls(WSGIRequestHandler):
    """The request log without the chat page's successful polls (one a second while a reply
    is due, every few seconds while idle), which would push the banner off the screen."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.command == "GET" and str(code) == "200" and \
                self.path.split("?")[0].endswith("/messages"):
            return
        super().log_request(code, size)
