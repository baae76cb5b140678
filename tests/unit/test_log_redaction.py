"""Link tokens never reach a log line (web/logs.py): the filter rewrites any record."""

import logging

from web.logs import RedactLinkTokens


def record(msg, *args):
    return logging.LogRecord("x", logging.INFO, __file__, 1, msg, args or None, None)


def test_request_lines_and_error_messages_show_redacted_links():
    f = RedactLinkTokens()
    for rec, expected in [
        (record('"%s" %s %s', "GET /c/abc-DEF_123/messages?after=2 HTTP/1.1", "200", "-"),
         '"GET /c/<redacted>/messages?after=2 HTTP/1.1" 200 -'),
        (record("Exception on /c/abc [POST]"), "Exception on /c/<redacted> [POST]"),
        (record("%(r)s", {"r": "POST /c/tok/start"}), "POST /c/<redacted>/start"),
        (record("POST /o/Mw.aBc.dEf_1/items/4/carry HTTP/1.1"),
         "POST /o/<redacted>/items/4/carry HTTP/1.1"),
        (record("GET /api/v1/sessions 200"), "GET /api/v1/sessions 200"),
    ]:
        assert f.filter(rec) is True
        assert rec.getMessage() == expected


def test_the_flask_apps_own_errors_are_redacted_under_gunicorn():
    """Under gunicorn the root logger has no handler, so Flask logs "Exception on /c/…"
    through its own default handler: that path is filtered too (gunicorn.conf.py)."""
    import io

    from flask.logging import default_handler

    from web.logs import redact_link_tokens

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    app_logger = logging.getLogger("app")
    app_logger.addHandler(handler)
    try:
        redact_link_tokens("gunicorn.access", "gunicorn.error")
        app_logger.error("Exception on /c/SECRETTOKEN123/messages [GET]")
    finally:
        app_logger.removeHandler(handler)
    assert "SECRETTOKEN123" not in stream.getvalue()
    assert "/c/<redacted>/messages" in stream.getvalue()
    assert any(isinstance(f, RedactLinkTokens) for f in default_handler.filters)
