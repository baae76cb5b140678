"""The Slack channel: DMs, buttons, App Home and /parley, through slack-bolt.

Bolt verifies every request (v0 HMAC, 5-minute window → 401) and we only store and enqueue
inside its listeners, so Slack gets its ack at once; the worker does the rest. The only
module that imports slack_bolt or slack_sdk.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from typing import Any

from flask import Blueprint, Flask, current_app, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import MetaData, select

from channels.base import Channel, Forbidden, NeedsOperator, PermanentError, RetryAfter
from channels.durable import accept
from core import db, directory, jobs, lifecycle, one_on_ones, ratelimit, sessions
from core.config import Settings, get_settings
from core.interviewer import prompts
from core.interviewer.prompts import anonymity_note
from core.messages import Address, Choice, Inbound, Outbound
from core.models import Interview, Person
from core.ratelimit import Limit

log = logging.getLogger(__name__)

SCOPES = ["chat:write", "im:write", "im:history", "mpim:write", "mpim:history", "users:read",
          "users:read.email", "commands"]
SECTION_LIMIT = 3000  # Block Kit section text
MAX_BLOCKS = 50
# Errors that no retry can fix: the person or conversation is not reachable this way.
PERMANENT = {"users_not_found", "user_not_found", "channel_not_found", "is_archived",
             "user_disabled", "not_in_channel", "cannot_dm_bot", "msg_too_long"}
# Errors about our own token or install: an operator must act; the message waits for them.
OPERATOR = {"invalid_auth", "not_authed", "token_revoked", "account_inactive",
            "missing_scope"}
DANGER = {"stop", "decline"}
PRIMARY = {"accept", "resume"}

HOME_INTRO = "*Parley* runs short, private conversations for your HR team."
HOME_NONE = "You have no open conversations. You'll get a message here when HR invites you."
COMMAND_HELP = (
    "`/parley status` — your open conversations\n"
    "`/parley 1on1 @someone` — open a 1-on-1 thread with a colleague\n"
    "`/parley note …` — inside a 1-on-1 thread: a private note only you will see\n"
    "`/parley notes` — inside a 1-on-1 thread: your private notes on it\n"
    "`/parley page` — a private link to your 1-on-1 page (agendas and your notes)\n"
    "`/parley pause` — pause the current one\n"
    "`/parley resume` — carry on where you left off\n"
    "In the conversation itself you can also type pause, resume, skip, stop or help."
)


class SlackChannel(Channel):
    name = "slack"

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.slack_enabled

    # ---- the edge -------------------------------------------------------------------------

    def verify(self, request: Any) -> None:
        verifier = SignatureVerifier(self.settings.slack_signing_secret)
        if not verifier.is_valid_request(request.get_data(), dict(request.headers)):
            raise Forbidden("invalid or stale Slack signature")

    def parse(self, request: Any) -> list[Inbound]:
        return parse_event(request.get_json(silent=True) or {})

    # ---- rendering ------------------------------------------------------------------------

    def render(self, message: Outbound) -> dict[str, Any]:
        """Block Kit with a plain-text fallback; choices become buttons."""
        return render_blocks(message)

    # ---- I/O ----------------------------------------------------------------------------

    def client(self, address: Address) -> WebClient:
        """A client with the token of the address's workspace. No retries inside the SDK:
        after a reset connection it would post again what Slack may already have; the outbox
        retries, asking ``find_sent`` first."""
        token = self.settings.slack_bot_token
        team = address.data.get("team")
        if self.settings.slack_client_id and team:
            bot = installation_store(self.settings).find_bot(enterprise_id=None, team_id=team)
            if bot is None:
                raise NeedsOperator(f"Parley is not installed in Slack workspace {team}")
            token = bot.bot_token
        return WebClient(token=token, base_url=self.settings.slack_api_base_url,
                         timeout=self.settings.slack_timeout, retry_handlers=[])

    def resolve(self, address: Address) -> Address:
        """Where a send goes. A person's DM needs no call: chat.postMessage takes their user
        id and posts in the app's DM with them (conversations.open is Tier 3, about 50 a
        minute: a rollout cannot open one DM per invite). A 1-on-1's group DM is opened
        once, within that Tier 3 budget."""
        user, data = address.key, dict(address.data)
        if data.get("users"):  # a 1-on-1 thread: the group DM of both people and the bot
            if not data.get("channel"):
                data["channel"] = self._open(address, ",".join(data["users"]))
            return Address("slack", user, data)
        if not user or (self.settings.slack_client_id and not data.get("team")):
            email = data.get("email")  # with several workspaces, an id alone names no one
            if not email:
                raise PermanentError("no Slack user id and workspace, and no email to look "
                                     "them up")
            user, team = self._find_by_email(email, data.get("team"))
            if team:
                data["team"] = team
        self.client(Address("slack", user, data))  # installed in their workspace, or held
        return Address("slack", user, data)

    def _open(self, address: Address, users: str) -> str:
        """conversations.open, within the workspace's Tier 3 budget: the DM's channel id."""
        opened = self._tier3(address, "conversations.open", self.client(address)
                             .conversations_open, users=users)
        return opened["channel"]["id"]

    def _tier3(self, address: Address, name: str, method, **kwargs):
        """A Tier 3 call, paced per workspace and method (``SLACK_TIER3_PER_MINUTE`` in
        any minute: Slack tolerates bursts). No slot soon, or a 429, is ``TooLong``:
        nothing was sent, so the message waits (uncounted) instead of failing."""
        team = address.data.get("team") if self.settings.slack_client_id else None
        limit = Limit(f"slack:{name}:{team or 'default'}",  # a minute, and a second's margin
                      ((self.settings.slack_tier3_per_minute, 61.0),))  # for the clocks
        ratelimit.pace(limit, max_wait=TIER3_WAIT)
        try:
            return _call(method, **kwargs)
        except RetryAfter as exc:
            ratelimit.hold(limit.key, exc.seconds)
            raise ratelimit.TooLong(exc.seconds) from exc

    def _find_by_email(self, email: str, team: str | None) -> tuple[str, str | None]:
        """users.lookupByEmail in the person's workspace, or in each installed one in turn."""
        multi = bool(self.settings.slack_client_id)
        teams = [team] if team or not multi else installed_teams(self.settings)
        refused = None  # a workspace whose token failed may be theirs: not their fault
        for candidate in teams:
            try:
                where = Address("slack", "", {"team": candidate} if candidate else {})
                found = self._tier3(where, "users.lookupByEmail",
                                    self.client(where).users_lookupByEmail, email=email)
            except PermanentError:
                continue
            except NeedsOperator as exc:
                refused = exc
                continue
            return found["user"]["id"], candidate
        if refused is not None:
            raise refused
        raise PermanentError(f"Slack said users_not_found: no Slack user with email {email}")

    def remember(self, person: Person, address: Address) -> None:
        person.slack_user_id = address.key
        if address.data.get("team"):  # the id means something only in its workspace
            person.slack_team_id = address.data["team"]

    def pacing(self, address: Address, message: Outbound | None = None) -> list[Limit]:
        if message is not None and message.replaces:  # chat.update: Tier 3, per workspace
            return [self.update_limit(address), self.workspace_limit(address)]
        return [Limit.every(conversation_key(address), 1.0), self.workspace_limit(address)]

    def workspace_limit(self, address: Address) -> Limit:
        """The workspace's share of sends: what a call that is not a post to one
        conversation (an App Home view, a chat.update) is paced by. One bucket per
        workspace: with a single bot token there is only one workspace."""
        team = address.data.get("team") if self.settings.slack_client_id else None
        # ahead: Slack allows short bursts; ours, at most one post more than the rate, goes
        # to a reply, which need not wait out the interval after a rollout's last post
        return Limit.rate(f"slack:team:{team or 'default'}", self.settings.slack_workspace_rate,
                          ahead=1.0)

    def update_limit(self, address: Address) -> Limit:
        """Updates of sent 1-on-1 messages (an item discussed, HR's edit or withdrawal of a
        topic in 20,000 threads) share Slack's Tier 3 budget for chat.update, per workspace:
        first, so a 429 holds every update in the workspace, not one thread's. A rollout's
        updates never book ahead (``pace_proactive``): a click's update goes first."""
        team = address.data.get("team") if self.settings.slack_client_id else None
        return Limit.rate(f"slack:update:{team or 'default'}", self.settings.slack_update_rate)

    def send(self, address: Address, message: Outbound, *, ref: str) -> str | None:
        payload = self.render(message)
        if message.replaces:  # an agenda item as it is now, in the message that showed it
            _call(self.client(address).chat_update, channel=address.data["channel"],
                  ts=message.replaces, text=payload["text"], blocks=payload["blocks"])
            return message.replaces
        response = _call(  # a DM by the person's id (see resolve), a group DM by its own
            self.client(address).chat_postMessage,
            channel=address.data.get("channel") or address.key,
            text=payload["text"], blocks=payload["blocks"],
            metadata={"event_type": "parley_message", "event_payload": {"ref": ref}},
        )
        return response["ts"]

    def find_sent(self, address: Address, ref: str) -> str | None:
        """The message with this ref among the conversation's last 20. A DM written to by
        the person's id is opened for its id only now, on a retry."""
        channel = address.data.get("channel") or self._open(address, address.key)
        history = self._tier3(address, "conversations.history",
                              self.client(address).conversations_history,
                              channel=channel, limit=20, include_all_metadata=True)
        for msg in history.get("messages", []):
            if (msg.get("metadata") or {}).get("event_payload", {}).get("ref") == ref:
                return msg["ts"]
        return None


TIER3_WAIT = 5.0  # seconds a send waits for a Tier 3 slot before it steps back (uncounted)


def conversation_key(address: Address) -> str:
    """The per-conversation rate key: a person's DM by their id, however it was addressed
    (their id for a first message, its D… id in a reply), any other by its channel."""
    channel = address.data.get("channel") or ""
    if address.key and (not channel or channel.startswith("D")):
        return f"slack:dm:{address.key}"
    return f"slack:channel:{channel}"


def _call(method, **kwargs):
    """One Web API call with Slack's errors sorted into retry-later, permanent and transient."""
    try:
        return method(**kwargs)
    except SlackApiError as exc:
        response = exc.response
        if response.status_code == 429:
            raise RetryAfter(float(response.headers.get("Retry-After", 1))) from exc
        error = response.get("error") if hasattr(response, "get") else None
        if error in PERMANENT:
            raise PermanentError(f"Slack said {error}") from exc
        if error in OPERATOR:
            raise NeedsOperator(f"Slack said {error}: check Parley's token for this "
                                "workspace (reinstall the app)") from exc
        raise


# ---- pure converters -------------------------------------------------------------------------

def render_blocks(message: Outbound) -> dict[str, Any]:
    chunks = [message.text[i:i + SECTION_LIMIT]
              for i in range(0, len(message.text), SECTION_LIMIT)] or [""]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in chunks[:MAX_BLOCKS - 2]
    ]
    if message.progress:
        n, of = message.progress
        blocks.append({"type": "context",
                       "elements": [{"type": "mrkdwn", "text": f"Topic {n} of {of}"}]})
    if message.choices:
        named = message.about or message.interview_id
        blocks.append({"type": "actions", "elements": [_button(c, named)
                                                       for c in message.choices]})
    text = message.text[:40_000]
    if message.choices:
        text += "\n(" + " · ".join(f"{i}. {c.label}"
                                   for i, c in enumerate(message.choices, 1)) + ")"
    return {"text": text, "blocks": blocks}


def _button(choice: Choice, named: int | str | None) -> dict[str, Any]:
    """A choice's button; its value names the conversation: "<interview id>:<choice>", or
    what a 1-on-1 button acts on: "agenda:<item id>:<choice>", "pair:<pair id>:<choice>"."""
    value = f"{named}:{choice.value}" if named else choice.value
    button = {"type": "button", "action_id": f"choice:{choice.value}", "value": value,
              "text": {"type": "plain_text", "text": choice.label[:75]}}
    if choice.value in DANGER:
        button["style"] = "danger"
    elif choice.value in PRIMARY:
        button["style"] = "primary"
    return button


def chosen_blocks(text: str, label: str) -> list[dict[str, Any]]:
    """The message after a click: the question stays, the buttons become the answer."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_LIMIT]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"✓ *{label}*"}]}]


def _sender(user: str, team: str | None, channel: str | None) -> Address:
    return Address("slack", user, {k: v for k, v in (("team", team), ("channel", channel)) if v})


def parse_event(body: dict[str, Any]) -> list[Inbound]:
    """A DM from a person → one Inbound; bot echoes, edits and joins → nothing."""
    event = body.get("event") or {}
    if body.get("type") != "event_callback" or event.get("type") != "message":
        return []
    if event.get("bot_id") or event.get("subtype"):
        return []
    kind = event.get("channel_type")
    if kind not in ("im", "mpim") or not event.get("user") or not body.get("event_id"):
        return []
    about = f"thread:{event.get('channel')}" if kind == "mpim" else None
    return [Inbound(channel="slack", event_id=body["event_id"],
                    sender=_sender(event["user"], body.get("team_id"), event.get("channel")),
                    text=event.get("text") or "", about=about)]


def parse_action(body: dict[str, Any]) -> list[Inbound]:
    """A button click → an Inbound carrying the choice and the conversation it was made in
    (a choice's value is "<interview id>:<choice>", App Home's Resume is the id alone)."""
    action = (body.get("actions") or [{}])[0]
    user = (body.get("user") or {}).get("id")
    value = action.get("value")
    if not user or not value:
        return []
    about = None
    if value.startswith(ABOUT):  # a 1-on-1 button: "agenda:<id>:<choice>"
        kind, _, rest = value.partition(":")
        named, _, choice = rest.partition(":")
        about = f"{kind}:{named}"
    elif action.get("action_id", "").startswith("choice:"):
        named, sep, choice = value.partition(":")
        if not sep:  # a button sent before buttons named their conversation
            named, choice = "", value
    else:
        named, choice = value, "resume"
    channel = (body.get("channel") or body.get("container") or {}).get("id") or (
        body.get("container") or {}).get("channel_id")
    return [Inbound(channel="slack", event_id=f"action:{user}:{action.get('action_ts')}",
                    sender=_sender(user, (body.get("team") or {}).get("id"), channel),
                    choice=choice, interview_id=None if about else _interview_id(named),
                    about=about)]


ABOUT = ("agenda:", "pair:")  # what a 1-on-1 button's value begins with
MODAL = {"add": ("Add a talking point", "What would you like to talk about?"),
         "note": ("Private note", "Only you will ever see this note.")}


def modal(about: str, choice: str) -> dict[str, Any]:
    """The modal behind a 1-on-1 thread's "Add talking point" / "Private note" button."""
    title, hint = MODAL[choice]
    return {"type": "modal", "callback_id": f"one_on_one:{choice}",
            "private_metadata": about, "title": {"type": "plain_text", "text": title[:24]},
            "submit": {"type": "plain_text", "text": "Save"},
            "blocks": [{"type": "input", "block_id": "text", "label": {
                "type": "plain_text", "text": hint[:2000]}, "element": {
                "type": "plain_text_input", "action_id": "text", "multiline": True,
                "max_length": 3000}}]}


def parse_submission(body: dict[str, Any]) -> list[Inbound]:
    """A 1-on-1 modal saved → an Inbound with the text and what it is about."""
    view = body.get("view") or {}
    user = (body.get("user") or {}).get("id")
    choice = str(view.get("callback_id", "")).removeprefix("one_on_one:")
    about = view.get("private_metadata") or ""
    if not user or choice not in MODAL or not about.startswith(ABOUT):
        return []
    values = ((view.get("state") or {}).get("values") or {}).get("text") or {}
    text = (values.get("text") or {}).get("value") or ""
    return [Inbound(channel="slack", event_id=f"view:{view.get('id')}:{view.get('hash')}",
                    sender=_sender(user, (body.get("team") or {}).get("id"), None),
                    text=text, choice=choice, about=about)]


def _interview_id(text: str) -> int | None:
    """The id a button names, when it is one (ids are 32-bit)."""
    ok = text.isascii() and text.isdigit() and len(text) <= 10 and int(text) < 2**31
    return int(text) if ok else None


# ---- the bolt app ------------------------------------------------------------------------

def installation_store(settings: Settings) -> SQLAlchemyInstallationStore:
    return _installation_store(settings.slack_client_id, db.engine())


@lru_cache(maxsize=4)
def _installation_store(client_id: str, engine) -> SQLAlchemyInstallationStore:
    return SQLAlchemyInstallationStore(client_id=client_id, engine=engine)


def installed_teams(settings: Settings) -> list[str]:
    """Workspaces that installed Parley through the OAuth flow."""
    bots = installation_store(settings).bots
    with db.engine().connect() as conn:
        return [row[0] for row in conn.execute(
            select(bots.c.team_id).where(bots.c.client_id == settings.slack_client_id)
            .distinct()) if row[0]]


def oauth_tables(metadata: MetaData) -> None:
    """Add slack_sdk's OAuth tables to ``metadata`` (the migration creates them)."""
    SQLAlchemyInstallationStore.build_installations_table(metadata, "slack_installations")
    SQLAlchemyInstallationStore.build_bots_table(metadata, "slack_bots")
    SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, "slack_oauth_states")


def build_app(settings: Settings) -> App:
    multi = bool(settings.slack_client_id and settings.slack_client_secret)
    client = WebClient(token=None if multi else settings.slack_bot_token,
                       base_url=settings.slack_api_base_url)
    options: dict[str, Any] = {
        "signing_secret": settings.slack_signing_secret, "client": client,
        "process_before_response": True,  # our listeners only store and enqueue
    }
    if multi:
        options["oauth_settings"] = OAuthSettings(
            client_id=settings.slack_client_id, client_secret=settings.slack_client_secret,
            scopes=SCOPES, installation_store=installation_store(settings),
            state_store=SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=db.engine()),
        )
    else:  # the client carries the token; no auth.test call while starting up
        options["token_verification_enabled"] = False
    app = App(**options)

    @app.event("message")
    def on_message(body):
        accept(parse_event(body))

    @app.event("app_home_opened")
    def on_home(event, body):
        jobs.enqueue_once("channels.slack.publish_home", body.get("team_id"), event["user"],
                          job_id=jobs.job_key("slack-home", body.get("event_id")))

    @app.action(re.compile(r"^(choice:.+|resume_interview)$"))
    def on_click(ack, body, client):
        ack()
        action = body["actions"][0]
        value = action.get("value") or ""
        kind, _, rest = value.partition(":")
        named, _, choice = rest.partition(":")
        if value.startswith(ABOUT) and choice in MODAL and body.get("trigger_id"):
            # a modal must open within 3 s of the click: here, not in a worker
            client.views_open(trigger_id=body["trigger_id"],
                              view=modal(f"{kind}:{named}", choice))
            return
        accept(parse_action(body))
        message = body.get("message") or {}
        if value.startswith(ABOUT):  # a 1-on-1's message is updated as its item changes
            return
        if message.get("ts") and action.get("action_id", "").startswith("choice:"):
            jobs.enqueue_once(
                "channels.slack.mark_chosen", (body.get("team") or {}).get("id"),
                body["channel"]["id"], message["ts"], message.get("text", ""),
                action["text"]["text"],
                job_id=jobs.job_key("slack-chosen", message["ts"], action.get("action_ts")))

    @app.view(re.compile(r"^one_on_one:"))
    def on_submission(ack, body):
        ack()
        accept(parse_submission(body))

    @app.command("/parley")
    def on_command(ack, command):
        text = (command.get("text") or "").strip()
        word, _, rest = text.partition(" ")
        word = word.lower()
        if word in ("note", "notes", "page", "1on1", "1:1"):
            ack(one_on_one_command(command, word, rest.strip()))
            return
        word = text.lower()
        if word in ("pause", "resume"):
            accept([Inbound(channel="slack", event_id=f"command:{command['trigger_id']}",
                            sender=_sender(command["user_id"], command.get("team_id"), None),
                            choice=word)])
            ack(f"OK — {word}.")
        elif word == "status":
            ack(status_text(command["user_id"]))
        else:
            ack(COMMAND_HELP)

    return app


MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def one_on_one_command(command: dict[str, Any], word: str, rest: str) -> str:
    """``/parley note …`` in a 1-on-1 thread, ``/parley 1on1 @someone`` anywhere: stored
    and enqueued like every inbound; the answer is the ephemeral acknowledgement."""
    sender = _sender(command["user_id"], command.get("team_id"), command.get("channel_id"))
    event_id = f"command:{command.get('trigger_id')}"
    if word in ("note", "notes"):
        with db.session_scope() as s:  # checked before "saved" is said
            pair = one_on_ones.by_thread(s, command.get("channel_id") or "")
            person = directory.by_address(s, "slack", command["user_id"],
                                          team=command.get("team_id"))
            if word == "notes":  # one's own notes on this pair, to oneself alone
                if pair is None or person is None:
                    return prompts.NOT_A_THREAD
                notes = one_on_ones.notes_of(s, pair, person.id)
                return "\n".join(f"• {n.text}" for n in notes[-20:]) or prompts.NO_NOTES
            problem = one_on_ones.note_problem(pair, person, rest)
            if problem is not None:
                return problem
            about = f"pair:{pair.id}"
        accept([Inbound(channel="slack", event_id=event_id, sender=sender, text=rest,
                        choice="note", about=about)])
        return prompts.NOTE_SAVED
    if word == "page":  # the person's own page link, with their notes: to them alone
        from web.one_on_ones import link

        with db.session_scope() as s:
            person = directory.by_address(s, "slack", command["user_id"],
                                          team=command.get("team_id"))
            if person is None or not person.active:
                return "Parley doesn't know you yet: ask HR to add you to the directory."
            url, expires_at = link(person.id, own=True)
        return prompts.own_page(url, expires_at.date().isoformat())
    found = MENTION.search(rest)
    if found is None:
        return "Name the person: `/parley 1on1 @someone`"
    accept([Inbound(channel="slack", event_id=event_id, sender=sender, text=found.group(1),
                    choice="open", about="people")])
    return f"Opening a 1-on-1 thread with <@{found.group(1)}>…"


def open_interviews(slack_user_id: str) -> list[dict[str, Any]]:
    with db.session_scope() as s:
        rows = s.scalars(
            select(Interview).join(Person, Interview.person_id == Person.id)
            .where(Person.slack_user_id == slack_user_id,
                   Interview.state.in_([str(x) for x in lifecycle.ACTIVE]))
            .order_by(Interview.id.desc()))
        return [{"id": i.id, "name": i.session.session_type.name, "state": i.state,
                 "anonymity": i.session.anonymity,
                 "threshold": sessions.settings_of(i.session).anonymity_threshold}
                for i in rows]


def status_text(slack_user_id: str) -> str:
    rows = open_interviews(slack_user_id)
    if not rows:
        return HOME_NONE
    return "\n".join(f"• {r['name']}: {r['state'].replace('_', ' ')}" for r in rows)


def home_view(slack_user_id: str) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": HOME_INTRO}}]
    rows = open_interviews(slack_user_id)
    if not rows:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": HOME_NONE}})
    for r in rows[:20]:
        blocks += [
            {"type": "section",
             "text": {"type": "mrkdwn",
                      "text": f"*{r['name']}* — {r['state'].replace('_', ' ')}"},
             "accessory": {"type": "button", "action_id": "resume_interview",
                           "value": str(r["id"]), "style": "primary",
                           "text": {"type": "plain_text", "text": "Resume"}}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": anonymity_note(r["anonymity"], r["threshold"])}]},
        ]
    return {"type": "home", "blocks": blocks[:100]}


# ---- jobs ----------------------------------------------------------------------------------

def publish_home(team: str | None, slack_user_id: str) -> None:
    """RQ job: show the person's open conversations on the App Home tab."""
    channel = SlackChannel(get_settings())
    address = _sender(slack_user_id, team, None)
    ratelimit.pace(channel.workspace_limit(address))
    _call(channel.client(address).views_publish, user_id=slack_user_id,
          view=home_view(slack_user_id))


def mark_chosen(team: str | None, channel_id: str, ts: str, text: str, label: str) -> None:
    """RQ job: after a click, update the message in place so the buttons show the answer.
    Slack's one-message-per-second per channel is a limit on posting (chat.postMessage's
    special tier); chat.update is a Tier 3 method, limited per workspace. Pacing it as a
    post would hold a worker asleep for a second after every click, and make the next
    question wait a second more."""
    channel = SlackChannel(get_settings())
    address = _sender("", team, channel_id)
    ratelimit.pace(channel.workspace_limit(address))
    _call(channel.client(address).chat_update, channel=channel_id, ts=ts, text=text,
          blocks=chosen_blocks(text, label))


# ---- Flask wiring ----------------------------------------------------------------------------

bp = Blueprint("slack", __name__)


@bp.route("/slack/events", methods=["POST"])
@bp.route("/slack/install", methods=["GET"])
@bp.route("/slack/oauth_redirect", methods=["GET"])
def slack_endpoint():
    if request.method == "POST":
        channel = SlackChannel(current_app.config["SETTINGS"])
        try:
            channel.verify(request)
        except Forbidden as exc:
            log.warning("Slack request refused: %s", exc)
            return {"error": {"code": "unauthorized", "message": str(exc)}}, 401
        problem = payload_problem(request)
        if problem:
            return {"error": {"code": "bad_request", "message": problem}}, 400
    return current_app.extensions["parley_slack"].handle(request)


def payload_problem(req) -> str | None:
    """Why a verified Slack request cannot be read, or None."""
    ctype = (req.content_type or "").split(";")[0]
    if ctype == "application/json":
        body = req.get_json(silent=True)
        if not isinstance(body, dict) or "type" not in body:
            return "the body must be a JSON object with a type (an Events API payload)"
    elif ctype == "application/x-www-form-urlencoded":
        if "payload" in req.form:
            try:
                json.loads(req.form["payload"])
            except ValueError:
                return "the payload field is not valid JSON"
        elif "command" not in req.form:
            return "expected an interactivity payload or a slash command"
    else:
        return f"unsupported content type {ctype or '(none)'}"
    return None


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["parley_slack"] = SlackRequestHandler(build_app(settings))
    app.register_blueprint(bp)
