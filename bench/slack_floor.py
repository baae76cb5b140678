"""The floor for ``bench.slack``: the least a Slack bot on slack-bolt + RQ can do.

A bare bolt App mounted on Flask verifies the signature, acks, and enqueues one RQ job per
DM; the job posts a fixed reply through slack_sdk's WebClient (with slack_sdk's own
``RateLimitErrorRetryHandler`` for 429s). No database, no inbox or outbox, no pacing.

    gunicorn "bench.slack_floor:create_app()"   # the web process
    rq worker -c bench.slack_floor              # a worker (queue ``bench-floor``)

Everything comes from the environment, with the names Parley uses: SLACK_SIGNING_SECRET,
SLACK_BOT_TOKEN, SLACK_API_BASE_URL, REDIS_URL. Importing this module as the worker's
config preloads slack_sdk in the worker's parent, as ``scheduler.worker_config`` does for Parley.
"""

from __future__ import annotations

import os

from flask import Flask, request
from redis import Redis
from rq import Queue
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

QUEUE = "bench-floor"
REPLY = "Thanks, noted."

# rq worker -c bench.slack_floor
REDIS_URL = os.environ.get("REDIS_URL", "")
QUEUES = [QUEUE]


def _client() -> WebClient:
    return WebClient(token=os.environ.get("SLACK_BOT_TOKEN", ""),
                     base_url=os.environ.get("SLACK_API_BASE_URL", "https://slack.com/api/"),
                     timeout=10, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=10)])


def reply(channel: str, event_id: str) -> str:
    """RQ job: post the fixed reply (the event id makes each one distinct)."""
    return _client().chat_postMessage(channel=channel, text=f"{REPLY} ({event_id})")["ts"]


def create_app() -> Flask:
    bolt = App(signing_secret=os.environ["SLACK_SIGNING_SECRET"], client=_client(),
               token_verification_enabled=False, process_before_response=True)
    queue = Queue(QUEUE, connection=Redis.from_url(os.environ["REDIS_URL"]))

    @bolt.event("message")
    def on_message(body, event):
        if event.get("bot_id") or event.get("subtype") or event.get("channel_type") != "im":
            return
        queue.enqueue(reply, event["channel"], body["event_id"])

    handler = SlackRequestHandler(bolt)
    app = Flask(__name__)

    @app.post("/slack/events")
    def slack_events():
        return handler.handle(request)

    return app
