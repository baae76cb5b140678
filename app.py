"""Parley's web process. ``create_app`` builds it; ``python app.py`` runs the embedded default.

The embedded default needs nothing installed: SQLite and an embedded Redis under ``var/``,
one RQ worker and the scheduler as child processes, the offline interviewer.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g

from core.config import bind, load_settings, unbind, using


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides settings by name (tests pass database_url …).

    The app keeps its own Settings and changes nothing process-wide: each request it serves
    runs with them bound (``core.config.bind``), so ``core.db`` and ``core.jobs`` reach this
    app's database and Redis even when another app lives in the same process.
    """
    settings = load_settings(**(config or {}))
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(
        SECRET_KEY=settings.secret_key, SETTINGS=settings, MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
        # an HR sign-in (web/api/accounts.py): HttpOnly by default, never sent cross-site
        # on a change, only over https when Parley is served over https
        SESSION_COOKIE_NAME="parley_session", SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.effective_public_base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        # sent only when it changes: a page's background call, sent before a form's POST and
        # answered after it, would otherwise put back the older cookie over the form's (its
        # message, a web link shown once). Renewing would not lengthen a sign-in: its token
        # ends 12 hours after signing in
        SESSION_REFRESH_EACH_REQUEST=False,
    )

    @app.before_request
    def _bind_settings():
        g.parley_settings = bind(settings)

    @app.teardown_request
    def _unbind_settings(_exc):
        if (token := g.pop("parley_settings", None)) is not None:
            unbind(token)

    from channels import web as web_channel
    from web import api, dashboard, errors, signin
    from web import one_on_ones as one_on_one_pages

    app.register_blueprint(api.bp)
    app.register_blueprint(web_channel.bp)
    app.register_blueprint(one_on_one_pages.bp)
    app.register_blueprint(signin.bp)
    dashboard.init_app(app)
    if settings.slack_enabled:
        from channels import slack

        with using(settings):  # bolt's OAuth stores take this app's engine
            slack.init_app(app, settings)
    # ---- email ----
    if settings.email_enabled:
        from channels import email

        email.init_app(app, settings)
    # ---- end email ----
    if settings.teams_enabled:  # Microsoft Teams
        from channels import teams

        teams.init_app(app, settings)
    if settings.sms_enabled:  # SMS (Twilio)
        from channels import sms

        sms.init_app(app, settings)
    errors.init_app(app)
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin
    from web.devserver import main

    main()
