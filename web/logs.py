"""Log hygiene: a private link's token (web chat ``/c/``, 1-on-1 page ``/o/``) is the
person's credential, so no log line carries it.

Installed where a process configures its logging (``web.devserver.main`` for werkzeug's
request log, ``gunicorn.conf.py`` for gunicorn's access and error logs), never by
``create_app``: a filter is process-wide state.
"""

from __future__ import annotations

import logging
import re

LINK = re.compile(r"/([co])/[^/\s?#\"']+")  # /c/<token> or /o/<token>, the rest kept


class RedactLinkTokens(logging.Filter):
    """Rewrites ``/c/<token>…`` in a record's message to ``/c/<redacted>…`` (``/o/`` alike)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = LINK.sub(r"/\1/<redacted>", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_link_tokens(*loggers: str) -> None:
    """Filter werkzeug's, the Flask app's ("app": its "Exception on /c/…") and ``loggers``'
    own records, and everything that reaches a handler of the root logger or of those
    loggers, Flask's own default handler included (under gunicorn the root has none)."""
    from flask.logging import default_handler

    redact = RedactLinkTokens()
    default_handler.addFilter(redact)
    for name in ("", "werkzeug", "app", *loggers):
        logger = logging.getLogger(name)
        if name:
            logger.addFilter(redact)
        for handler in logger.handlers:
            handler.addFilter(redact)
