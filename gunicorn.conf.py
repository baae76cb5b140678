"""gunicorn's settings for the Procfile's ``web`` process (gunicorn reads ./gunicorn.conf.py)."""


def post_worker_init(worker):
    """Keep web-chat link tokens out of the access and error logs (web/logs.py)."""
    from web.logs import redact_link_tokens

    redact_link_tokens("gunicorn.access", "gunicorn.error")
