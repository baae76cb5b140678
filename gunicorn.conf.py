"""gunicorn's settings for the Procfile's ``web`` process (gunicorn reads ./gunicorn.conf.py)."""

import gc


def post_worker_init(worker):
    """Keep web-chat link tokens out of the access and error logs (web/logs.py). Then
    freeze what the worker loaded (Flask, the mappers, the SDKs: about 150,000 objects it
    keeps for life): a full collection walks only what requests made, 80 ms → under 1 ms,
    a pause an acknowledgement or a reply would sit through (bench/rollout.py)."""
    from web.logs import redact_link_tokens

    redact_link_tokens("gunicorn.access", "gunicorn.error")
    gc.collect()
    gc.freeze()
