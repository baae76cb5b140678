"""Parley's web process. ``create_app`` builds it; ``python app.py`` runs the embedded default.

The embedded default needs nothing installed: SQLite and an embedded Redis under ``var/``,
one RQ worker and the scheduler as child processes, the offline interviewer.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from core import db, jobs
from core.config import activate, load_settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides settings by name (tests pass database_url …)."""
    settings = activate(load_settings(**(config or {})))
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(
        SECRET_KEY=settings.secret_key, SETTINGS=settings, MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    db.configure(settings.effective_database_url)
    jobs.configure(settings.redis_url)

    from channels import web as web_channel
    from web import api, errors

    app.register_blueprint(api.bp)
    app.register_blueprint(web_channel.bp)
    if settings.slack_enabled:
        from channels import slack

        slack.init_app(app, settings)
    errors.init_app(app)
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from web.devserver import main

    main()
