"""The Microsoft Teams channel: personal-chat interviews through botbuilder (Bot Framework).

Every request to ``POST /api/messages`` is authenticated with botbuilder's own Bot Framework
validation (issuer, signing keys from the OpenID metadata, audience = our app id, the
``serviceurl`` claim = the activity's serviceUrl); anything it refuses, with whatever
exception, is a 401 and a log line, and nothing is stored. A verified activity is stored
once in the inbox and acknowledged at once; the worker answers later, proactively, with
``continue_conversation`` on the ConversationReference kept when the app was installed and
a bot token from the login authority.

The only module that imports botbuilder, botframework or msal (the SDK is archived: its
successor must touch this file alone).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from botbuilder.core import CloudAdapterBase, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ConversationReference
from botframework.connector.auth import (
    AppCredentials,
    AuthenticationConfiguration,
    AuthenticationConstants,
    BotFrameworkAuthenticationFactory,
    ServiceClientCredentialsFactory,
)
from flask import Blueprint, Flask, current_app, request
from msal import ConfidentialClientApplication
from msrest.exceptions import HttpOperationError
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import object_session

from channels.base import Channel, Forbidden, NeedsOperator, PermanentError, RetryAfter
from channels.durable import accept
from core import db, directory, jobs, ratelimit
from core.config import ConfigError, Settings, get_settings
from core.messages import Address, Inbound, Outbound
from core.models import OutboundRecord, Person, TeamsContact, utcnow
from core.ratelimit import Limit

log = logging.getLogger(__name__)

# Per bot per conversation (PROTOCOLS.md, Teams): every window holds at once.
CONVERSATION_WINDOWS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"  # the floor Teams renders on every client, mobile included
TEXT_LIMIT = 20_000  # characters: keeps an activity well under the connector's 100 KB
TRANSIENT = {412, 502, 503, 504, 500}
DEFAULT_LOGIN = "https://login.microsoftonline.com"
BOT_SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
ISSUER = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
DANGER = {"stop", "decline"}
PRIMARY = {"accept", "resume"}

GREETING = (
    "Hi, I'm Parley. Your HR team uses me for short, private conversations — stay, exit and "
    "onboarding interviews — here in Teams. When HR invites you I'll tell you first what is "
    "recorded and who will see your answers (named to HR, or only in aggregate), and you can "
    "pause, skip or stop at any time."
)
UNKNOWN_CONTACT = (
    "Hi, I'm Parley, the interview assistant your HR team uses. I couldn't find you in "
    "Parley's directory yet, so there is nothing for you here right now. If you expected an "
    "invitation, please ask HR to add you; nothing you write here is recorded until then."
)
NOT_INSTALLED = ("Parley is not installed for {who} in Microsoft Teams (no personal chat to "
                 "write to)")


class TeamsChannel(Channel):
    name = "teams"

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.teams_enabled

    # ---- the edge -------------------------------------------------------------------------

    def verify(self, request: Any) -> Activity:
        """The activity, once botbuilder has authenticated the request that carried it."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadActivity("the body must be a JSON object (a Bot Framework activity)")
        activity = read_activity(body)
        if self.settings.teams_dev_no_auth:  # whatever the address gunicorn listens on
            if not loopback_host(request.remote_addr or ""):
                raise Forbidden(f"TEAMS_DEV_NO_AUTH: request from {request.remote_addr}, "
                                "not loopback")
            if not loopback(activity.service_url):
                raise Forbidden(f"TEAMS_DEV_NO_AUTH: serviceUrl {activity.service_url} is "
                                "not loopback")
        header = request.headers.get("Authorization")
        if not header and not self.settings.teams_dev_no_auth:
            raise Forbidden("no Authorization header")
        try:
            run(authentication(self.settings).authenticate_request(activity, header))
        except Exception as exc:  # botbuilder refuses with many types: each one is a 401
            raise Forbidden(f"{type(exc).__name__}: {exc}") from None
        tenant = self.settings.teams_tenant_id
        if tenant and tenant_of(body) != tenant:
            raise Forbidden(f"activity from tenant {tenant_of(body)!r}, not {tenant!r}")
        return activity

    def parse(self, request: Any) -> list[Inbound]:
        return parse_activity(request.get_json(silent=True) or {})

    # ---- rendering ------------------------------------------------------------------------

    def render(self, message: Outbound) -> dict[str, Any]:
        return render_activity(message)

    # ---- I/O ----------------------------------------------------------------------------

    def resolve(self, address: Address) -> Address:
        """The personal chat to write to: the contact the person installed the app as."""
        with db.session_scope() as s:
            contact = find_contact(s, address)
            if contact is None or not contact.reference:
                who = address.data.get("email") or address.key or "this person"
                raise PermanentError(NOT_INSTALLED.format(who=who))
            data = {k: v for k, v in (("aad", contact.aad_object_id),
                                      ("email", address.data.get("email")),
                                      ("tenant", contact.tenant_id)) if v}
            data["reference"] = contact.reference
            return Address("teams", contact.user_id, data)

    def remember(self, person: Person, address: Address) -> None:
        person.teams_user_id = address.key
        if address.data.get("aad") and not person.aad_object_id:
            person.aad_object_id = address.data["aad"]
        s = object_session(person)
        contact = s.scalar(select(TeamsContact).where(TeamsContact.user_id == address.key))
        if contact is not None and contact.person_id is None:
            contact.person_id = person.id

    def pacing(self, address: Address, message: Outbound | None = None) -> list[Limit]:
        reference = address.data.get("reference") or {}
        conversation = (reference.get("conversation") or {}).get("id") or address.key
        tenant = address.data.get("tenant") or "default"
        return [Limit(f"teams:conversation:{conversation}", CONVERSATION_WINDOWS),
                Limit.rate(f"teams:tenant:{tenant}", self.settings.teams_tenant_rate,
                           ahead=1.0)]  # as Slack's workspace (slack.py)

    def send(self, address: Address, message: Outbound, *, ref: str) -> str | None:
        """Post a new message; the connector's id for it is what we record. Teams assigns
        its own id (it ignores one we supply) and offers no lookup of a sent message
        without Microsoft Graph, so ``find_sent`` stays the base default (None): a send
        that timed out after the connector took it may be repeated once (at-least-once in
        that one case), never lost."""
        if message.replaces:  # a 1-on-1 card as it is now, in the chat that shows it
            self.update(address, message.replaces, self.render(message))
            return message.replaces
        activity = Activity().deserialize(self.render(message))

        async def post(context: TurnContext, client) -> str | None:
            TurnContext.apply_conversation_reference(activity, context_reference(context))
            activity.id = activity.reply_to_id = None  # a new message, not a reply
            response = await client.conversations.send_to_conversation(
                activity.conversation.id, activity)
            return response.id if response else None

        return self.proactive(address, post)

    def update(self, address: Address, activity_id_: str, payload: dict[str, Any]) -> None:
        """Replace a sent card in place (PUT …/activities/{id})."""
        activity = Activity().deserialize(payload)

        async def put(context: TurnContext, client) -> None:
            TurnContext.apply_conversation_reference(activity, context_reference(context))
            activity.id, activity.reply_to_id = activity_id_, None
            await client.conversations.update_activity(
                activity.conversation.id, activity_id_, activity)

        self.proactive(address, put)

    def member(self, address: Address) -> dict[str, Any]:
        """The connector's roster entry for the person: AAD object id, UPN, email."""
        async def lookup(context: TurnContext, client) -> dict[str, Any]:
            # TeamsInfo.get_member's own path for a personal chat (no team in a continuation)
            account = await TeamsInfo._get_member(client, context.activity.conversation.id,
                                                  address.key)
            return {"aad": account.aad_object_id, "upn": account.user_principal_name,
                    "email": account.email}

        return self.proactive(address, lookup)

    def proactive(self, address: Address, work) -> Any:
        """Run ``work(context, connector)`` in the conversation, as botbuilder does for any
        proactive message: continue_conversation with the stored reference and a bot token
        from the login authority. Errors come back sorted for the outbox."""
        reference = ConversationReference().deserialize(address.data["reference"])
        adapter = CloudAdapterBase(authentication(self.settings))
        result: dict[str, Any] = {}

        async def callback(context: TurnContext) -> None:
            client = context.turn_state[adapter.BOT_CONNECTOR_CLIENT_KEY]
            try:
                result["value"] = await asyncio.wait_for(work(context, client),
                                                         self.settings.teams_timeout)
            finally:
                await client._client.__aexit__(None, None, None)  # close its aiohttp session

        try:
            run(adapter.continue_conversation(reference, callback, self.settings.teams_app_id))
        except Exception as exc:
            raise sorted_error(exc) from exc
        return result.get("value")


class BadActivity(Exception):
    """The body is not a Bot Framework activity: 400 with this reason."""


# ---- botbuilder's authentication, with Parley's endpoints -----------------------------------

def run(coro):
    """The one async→sync bridge: botbuilder is asyncio; Flask and RQ workers are not."""
    return asyncio.run(coro)


def authority(settings: Settings) -> str:
    base = (settings.teams_login_url or DEFAULT_LOGIN).rstrip("/")
    return f"{base}/{settings.teams_tenant_id or 'botframework.com'}"


@lru_cache(maxsize=8)
def _msal_app(app_id: str, password: str, login: str, discovery: bool):
    """One MSAL client per credentials, so its token cache lives as long as the process.
    With TEAMS_LOGIN_URL set it asks only that authority (no instance discovery against
    Microsoft); requests under MSAL honour REQUESTS_CA_BUNDLE / SSL_CERT_FILE."""
    return ConfidentialClientApplication(
        client_id=app_id, client_credential=password, authority=login,
        validate_authority=discovery, instance_discovery=discovery, timeout=15)


class BotCredentials(AppCredentials):
    """The bot's client-credentials token for the Bot Connector."""

    def __init__(self, settings: Settings, oauth_scope: str):
        super().__init__(app_id=settings.teams_app_id, channel_auth_tenant=settings.teams_tenant_id
                         or None, oauth_scope=oauth_scope)
        self.oauth_endpoint = authority(settings)
        self._app = _msal_app(settings.teams_app_id, settings.teams_app_password,
                              self.oauth_endpoint, not settings.teams_login_url)

    def get_access_token(self, force_refresh: bool = False) -> str:
        scope = self.oauth_scope.rstrip("/")
        scopes = [scope if scope.endswith("/.default") else scope + "/.default"]
        token = self._app.acquire_token_for_client(scopes=scopes)  # cached by MSAL
        if "access_token" in token:
            return token["access_token"]
        raise PermissionError(f"no bot token from {self.oauth_endpoint}: "
                              f"{token.get('error')}: {token.get('error_description')}")


class CredentialFactory(ServiceClientCredentialsFactory):
    """botbuilder asks this for our app id and the bot's credentials."""

    def __init__(self, settings: Settings):
        self.settings = settings

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(app_id) and app_id == self.settings.teams_app_id

    async def is_authentication_disabled(self) -> bool:
        # botbuilder turns authentication off for an empty app id; Parley only when told to
        return self.settings.teams_dev_no_auth and not self.settings.teams_app_id

    async def create_credentials(self, app_id, oauth_scope, login_endpoint, validate_authority):
        if await self.is_authentication_disabled():
            return _NoCredentials()
        if not await self.is_valid_app_id(app_id):
            raise PermissionError(f"not Parley's app id: {app_id!r}")
        return BotCredentials(self.settings, oauth_scope or BOT_SCOPE)


class _NoCredentials(AppCredentials):
    """TEAMS_DEV_NO_AUTH: no token on outbound calls (the emulator takes none)."""

    def __init__(self):
        super().__init__(app_id="")

    def get_access_token(self, force_refresh: bool = False) -> str:
        return ""


_AUTH: dict[tuple, Any] = {}


def authentication(settings: Settings):
    """botbuilder's Bot Framework authentication on Parley's endpoints (one per settings:
    the OpenID keys and the bot token are cached inside it)."""
    key = (settings.teams_app_id, settings.teams_app_password, settings.teams_tenant_id,
           settings.teams_openid_metadata_url, settings.teams_login_url,
           settings.teams_dev_no_auth)
    if key not in _AUTH:
        _AUTH[key] = BotFrameworkAuthenticationFactory.create(
            to_channel_from_bot_login_url=authority(settings),
            to_channel_from_bot_oauth_scope=BOT_SCOPE,
            to_bot_from_channel_token_issuer=ISSUER,
            to_bot_from_channel_open_id_metadata_url=settings.teams_openid_metadata_url,
            # no emulator or skill tokens are trusted from anywhere else
            to_bot_from_emulator_open_id_metadata_url=settings.teams_openid_metadata_url,
            credential_factory=CredentialFactory(settings),
            auth_configuration=AuthenticationConfiguration(),
        )
    return _AUTH[key]


def sorted_error(exc: Exception) -> Exception:
    """A connector failure as the outbox reads it: pacing, permanent, operator or retry."""
    if isinstance(exc, HttpOperationError) and exc.response is not None:
        status = exc.response.status_code
        code = getattr(getattr(exc.error, "error", None), "code", None) or ""
        said = f"Teams said {status} {code}".strip()
        if status == 429:
            return RetryAfter(_retry_after(exc.response.headers))
        if status in (403, 404, 413):  # not installed, blocked, gone, too big
            return PermanentError(f"{said}: the app is not installed for this person, they "
                                  "blocked it, or the message cannot be delivered")
        if status == 401:
            return NeedsOperator(f"{said}: the Bot Connector refused Parley's token (check "
                                 "TEAMS_APP_ID / TEAMS_APP_PASSWORD)")
        return TransientError(said)  # 412, 502, 504 …: retried with backoff
    if isinstance(exc, PermissionError):  # the login authority refused our credentials
        return NeedsOperator(str(exc))
    return exc


def _retry_after(headers) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", 1)))
    except (TypeError, ValueError):
        return 1.0


class TransientError(Exception):
    """The connector failed in a way a later try may not (412, 5xx): RQ retries."""


# ---- pure converters -------------------------------------------------------------------------

# field → (type it must have, longest we keep); what parse and note_contact read
SHAPE = {"type": (str, 100), "id": (str, 190), "serviceUrl": (str, 2000),
         "channelId": (str, 100), "text": (str, 100_000), "replyToId": (str, 190),
         "action": (str, 100), "from": (dict, 0), "recipient": (dict, 0),
         "conversation": (dict, 0), "channelData": (dict, 0), "entities": (list, 0),
         "membersAdded": (list, 0)}
IDS = {"from": {"id": 200, "aadObjectId": 64, "role": 50},
       "recipient": {"id": 200}, "conversation": {"id": 1000, "tenantId": 64,
                                                   "conversationType": 50}}


def read_activity(body: dict[str, Any]) -> Activity:
    """The activity, or BadActivity naming what is wrong with it (never a 500 later)."""
    for name, (kind, longest) in SHAPE.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, kind):
            raise BadActivity(f"{name}: must be a {kind.__name__}")
        if longest and len(value) > longest:
            raise BadActivity(f"{name}: at most {longest} characters")
        if kind is list and not all(isinstance(item, dict) for item in value):
            raise BadActivity(f"{name}: must be a list of objects")
    for name, fields in IDS.items():
        for key, longest in fields.items():
            value = (body.get(name) or {}).get(key)
            if value is not None and (not isinstance(value, str) or len(value) > longest):
                raise BadActivity(f"{name}.{key}: a string of at most {longest} characters")
    for entity in body.get("entities") or []:
        mentioned = entity.get("mentioned")
        if not isinstance(entity.get("type", ""), str) or \
                not isinstance(entity.get("text", ""), str) or \
                (mentioned is not None and not (isinstance(mentioned, dict) and isinstance(
                    mentioned.get("id", ""), str) and isinstance(mentioned.get("name", ""),
                                                                 str))):
            raise BadActivity("entities: each one a {type, text, mentioned: {id, name}} "
                              "object of strings")
    tenant = ((body.get("channelData") or {}).get("tenant") or {})
    if not isinstance(tenant, dict) or not isinstance(tenant.get("id", ""), str) or \
            len(tenant.get("id") or "") > 64:
        raise BadActivity("channelData.tenant.id: a string of at most 64 characters")
    try:
        activity = Activity().deserialize(body)
    except Exception as exc:
        raise BadActivity(f"not a Bot Framework activity: {exc}") from None
    if not activity.type or not activity.service_url or not activity.channel_id:
        raise BadActivity("an activity needs type, serviceUrl and channelId")
    return activity


def tenant_of(body: dict[str, Any]) -> str | None:
    return ((body.get("conversation") or {}).get("tenantId")
            or ((body.get("channelData") or {}).get("tenant") or {}).get("id"))


def context_reference(context: TurnContext) -> ConversationReference:
    return TurnContext.get_conversation_reference(context.activity)


def _sender(body: dict[str, Any]) -> Address:
    person = body.get("from") or {}
    data = {k: v for k, v in (("aad", person.get("aadObjectId")),
                              ("tenant", tenant_of(body))) if v}
    return Address("teams", person.get("id") or "", data)


def _personal(body: dict[str, Any]) -> bool:
    """A Teams personal chat: nothing else (a Direct Line or Web Chat activity signed for
    this bot, a group chat) may touch a person's contact."""
    return (body.get("channelId") == "msteams"
            and (body.get("conversation") or {}).get("conversationType") == "personal")


def from_a_person(body: dict[str, Any]) -> bool:
    person, bot = body.get("from") or {}, body.get("recipient") or {}
    return bool(person.get("id")) and person.get("id") != bot.get("id") and \
        person.get("role") != "bot"


def parse_activity(body: dict[str, Any]) -> list[Inbound]:
    """A person's message or card click → one Inbound; typing, reactions, edits, the bot's
    own messages, and group messages that do not @mention the bot → nothing."""
    if body.get("type") != "message" or not body.get("id") or not from_a_person(body):
        return []
    sender = _sender(body)
    value = body.get("value")
    conversation = conversation_of(body)
    if isinstance(value, dict) and isinstance(value.get("choice"), str) \
            and isinstance(value.get("about"), str):
        # a 1-on-1 card: each click is its own (a card is clicked again at each meeting);
        # a redelivered activity keeps its id
        typed = value.get("text")
        return [Inbound(channel="teams", event_id=scoped(conversation, body["id"]),
                        sender=sender, choice=value["choice"][:50], about=value["about"][:60],
                        text=typed if isinstance(typed, str) else "")]
    if isinstance(value, dict) and isinstance(value.get("choice"), str):
        # a card counts once: every click on it is the same event
        card = body.get("replyToId") or body["id"]
        return [Inbound(channel="teams", event_id=scoped("card", conversation, card),
                        sender=sender,
                        choice=value["choice"][:50],
                        interview_id=_interview_id(value.get("interview")))]
    text = body.get("text") or ""
    if not _personal(body):
        bot = (body.get("recipient") or {}).get("id")
        mentioned = any(e.get("type") == "mention" and (e.get("mentioned") or {}).get("id")
                        == bot for e in body.get("entities") or [])
        if not mentioned:
            return []
        text = TurnContext.remove_mention_text(Activity().deserialize(body), bot) or ""
    text = re.sub(r"<[^>]+>", "", text).strip()  # Teams wraps typed text in HTML at times
    if not text:
        return []
    return [Inbound(channel="teams", event_id=scoped(conversation, body["id"]), sender=sender,
                    text=text)]


def conversation_of(body: dict[str, Any]) -> str:
    return (body.get("conversation") or {}).get("id") or ""


def scoped(*parts: str) -> str:
    """An event id unique across chats (Teams' activity ids are unique only within one),
    within the inbox's 200 characters."""
    text = ":".join(parts)
    if len(text) <= 200:
        return text
    return "sha256:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _interview_id(raw: Any) -> int | None:
    text = str(raw) if raw is not None else ""
    ok = text.isascii() and text.isdigit() and len(text) <= 10 and int(text) < 2**31
    return int(text) if ok else None


def installed(body: dict[str, Any]) -> bool:
    """The app was just installed in a personal chat (or the bot added to one)."""
    if not _personal(body) or not from_a_person(body):
        return False
    if body.get("type") == "installationUpdate":
        return body.get("action") in ("add", "add-upgrade")
    if body.get("type") == "conversationUpdate":
        bot = (body.get("recipient") or {}).get("id")
        return any(m.get("id") == bot for m in body.get("membersAdded") or [])
    return False


def uninstalled(body: dict[str, Any]) -> bool:
    return (body.get("type") == "installationUpdate"
            and body.get("action") in ("remove", "remove-upgrade"))


def render_activity(message: Outbound) -> dict[str, Any]:
    """An Adaptive Card (1.4) with a plain ``text`` for notifications and clients that
    cannot render it; each choice an Action.Submit whose data names the interview."""
    return {"type": "message", "text": plain_text(message),
            "attachments": [{"contentType": CARD, "content": card(message)}]}


def plain_text(message: Outbound) -> str:
    text = message.text[:TEXT_LIMIT]
    if message.choices:
        text += "\n\n" + "\n".join(f"{i}. {c.label}" for i, c in enumerate(message.choices, 1))
    return text


def card(message: Outbound, chosen: str | None = None) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": message.text[:TEXT_LIMIT], "wrap": True}]
    if message.progress:
        n, of = message.progress
        body.append({"type": "TextBlock", "text": f"Topic {n} of {of}", "isSubtle": True,
                     "size": "Small", "spacing": "Small"})
    content: dict[str, Any] = {
        "type": "AdaptiveCard", "version": CARD_VERSION,
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "body": body}
    if chosen is not None:  # after a click: the buttons become the answer
        body.append({"type": "TextBlock", "text": f"✓ {chosen}", "weight": "Bolder",
                     "wrap": True})
    elif message.choices:
        if message.about and {c.value for c in message.choices} & TYPED:
            body.append({"type": "Input.Text", "id": "text", "isMultiline": True,
                         "maxLength": 1000, "label": "A talking point or a private note",
                         "placeholder": "What would you like to talk about?"})
        content["actions"] = [_action(c.value, c.label, message.interview_id, message.about)
                              for c in message.choices]
    return content


TYPED = {"add", "note"}  # a 1-on-1 card's choices that take what was typed in its box


def _action(value: str, label: str, interview_id: int | None,
            about: str | None = None) -> dict[str, Any]:
    data = {"about": about, "choice": value} if about else {"interview": interview_id,
                                                           "choice": value}
    action = {"type": "Action.Submit", "title": label[:80], "data": data}
    if value in DANGER:
        action["style"] = "destructive"
    elif value in PRIMARY:
        action["style"] = "positive"
    return action


def chosen_activity(message: Outbound, label: str) -> dict[str, Any]:
    return {"type": "message", "text": f"{message.text[:TEXT_LIMIT]}\n\n✓ {label}",
            "attachments": [{"contentType": CARD, "content": card(message, chosen=label)}]}


# ---- contacts: who installed the app, and where to write to them ------------------------------

def find_contact(s, address: Address) -> TeamsContact | None:
    """The contact behind an address: by Teams user id, else Entra object id, else email
    (in that order: a weaker key never outranks a stronger one)."""
    tests = []
    if address.key:
        tests.append(TeamsContact.user_id == address.key)
    if address.data.get("aad"):
        tests.append(TeamsContact.aad_object_id == address.data["aad"])
    if address.data.get("email"):
        tests.append(func.lower(TeamsContact.email) == address.data["email"].lower())
    for test in tests:
        contact = s.scalar(select(TeamsContact).where(test)
                           .order_by(TeamsContact.updated_at.desc()).limit(1))
        if contact is not None:
            return contact
    return None


def trusted_tenant(settings: Settings, tenant: str | None) -> bool:
    """May this tenant's roster email/UPN link a Teams user to a person? Only our own
    tenant(s): any tenant can install a multi-tenant bot and set its users' mail."""
    allowed = {t.strip() for t in settings.teams_allowed_tenants.split(",") if t.strip()}
    allowed.add(settings.teams_tenant_id)
    return bool(tenant) and tenant in allowed


def note_contact(body: dict[str, Any]) -> int | None:
    """Keep the personal chat's ConversationReference (what a proactive send needs) for the
    person who wrote or installed the app; link them to the directory by Entra object id.
    Returns the contact's id; None for activities that are not from a person's personal chat."""
    if not _personal(body) or not from_a_person(body):
        return None
    sender = _sender(body)
    removed = uninstalled(body)
    reference = {} if removed else TurnContext.get_conversation_reference(
        Activity().deserialize(body)).serialize()
    with db.session_scope() as s:
        mine = select(TeamsContact).where(TeamsContact.user_id == sender.key).with_for_update()
        contact = s.scalar(mine)
        if contact is None:
            try:
                with s.begin_nested():  # two first activities at once: one row
                    contact = TeamsContact(user_id=sender.key, reference={})
                    s.add(contact)
            except IntegrityError:
                contact = s.scalar(mine)
        contact.reference, contact.updated_at = reference, utcnow()
        contact.aad_object_id = sender.data.get("aad") or contact.aad_object_id
        contact.tenant_id = sender.data.get("tenant") or contact.tenant_id
        if contact.person_id is None and contact.aad_object_id:
            person = s.scalar(select(Person).where(
                Person.aad_object_id == contact.aad_object_id).limit(1))
            if person is not None:
                link(contact, person)
        s.flush()
        return contact.id


def link(contact: TeamsContact, person: Person) -> bool:
    """Link the contact to the person, unless the person is already another Teams user's
    (never re-linked silently: an operator decides)."""
    if person.teams_user_id and person.teams_user_id != contact.user_id:
        log.warning("OPERATOR: Teams user %s matches person %s, who is already linked to "
                    "Teams user %s; not re-linked", contact.user_id, person.id,
                    person.teams_user_id)
        return False
    contact.person_id = person.id
    person.teams_user_id = contact.user_id
    person.aad_object_id = person.aad_object_id or contact.aad_object_id
    return True


# ---- jobs ----------------------------------------------------------------------------------

def welcome(user_id: str) -> None:
    """RQ job after an install: match the person by UPN/email from the connector's roster
    when their Entra id did not, then greet them once (known or not, politely)."""
    channel = TeamsChannel(get_settings())
    with db.session_scope() as s:
        contact = s.scalar(select(TeamsContact).where(TeamsContact.user_id == user_id))
        if contact is None or contact.greeted_at is not None or not contact.reference:
            return
        address = Address("teams", user_id, {"reference": contact.reference,
                                              "tenant": contact.tenant_id or ""})
        linked = contact.person_id is not None
    if not linked:
        ratelimit.pace(*channel.pacing(address)[1:])
        try:
            found = channel.member(address)
        except PermanentError as exc:  # not on the roster: an unknown contact
            log.info("Teams member lookup for %s found no one: %s", user_id, exc)
            found = {}
        with db.session_scope() as s:
            contact = s.scalar(select(TeamsContact).where(TeamsContact.user_id == user_id))
            contact.aad_object_id = contact.aad_object_id or found.get("aad")
            person = s.scalar(select(Person).where(
                Person.aad_object_id == contact.aad_object_id).limit(1)) if \
                contact.aad_object_id else None
            if trusted_tenant(channel.settings, contact.tenant_id):
                # the UPN is the sign-in name; `email` is a mailbox an admin can set freely
                contact.email = found.get("upn") or found.get("email") or contact.email
                if person is None and contact.email:
                    person = directory.by_email(s, contact.email)
            elif found.get("upn") or found.get("email"):
                log.info("Teams user %s is in tenant %s, not ours: not matched by email",
                         user_id, contact.tenant_id)
            linked = person is not None and link(contact, person)
    with db.session_scope() as s:
        contact = s.scalar(select(TeamsContact).where(TeamsContact.user_id == user_id)
                           .with_for_update())
        if contact.greeted_at is not None:
            return
        contact.greeted_at = utcnow()
        record = OutboundRecord(channel="teams", address=Address("teams", user_id).to_dict(),
                                payload=Outbound(GREETING if linked else UNKNOWN_CONTACT,
                                                 role="system").to_dict())
        s.add(record)
        s.flush()
        ids = [record.id]
    jobs.enqueue_deliveries(ids)


def greet_pending() -> int:
    """Periodic job (scheduler): queue the greeting for every installed contact not greeted
    yet — one whose install arrived while Redis was away. ``welcome`` greets once."""
    if not get_settings().teams_enabled:
        return 0
    with db.session_scope() as s:
        waiting = [c.user_id for c in s.scalars(select(TeamsContact).where(
            TeamsContact.greeted_at.is_(None))) if c.reference]
    for user_id in waiting:
        jobs.enqueue_once("channels.teams.welcome", user_id,
                          job_id=jobs.job_key("teams-welcome", user_id))
    return len(waiting)


def mark_chosen(user_id: str, conversation: str, card_id: str, choice: str) -> None:
    """RQ job: after a click, replace the card in place so its buttons show the answer
    and cannot be pressed again. The card is the one with that id in the clicker's own
    chat (Teams' ids are unique only within a conversation)."""
    with db.session_scope() as s:
        records = s.scalars(select(OutboundRecord).where(
            OutboundRecord.channel == "teams", OutboundRecord.provider_message_id == card_id))
        record = next((r for r in records if (r.address or {}).get("key") == user_id
                       and _conversation_of_address(r.address) == conversation), None)
        if record is None:
            return
        message = Outbound.from_dict(record.payload)
    label = next((c.label for c in message.choices if c.value == choice), None)
    if label is None:
        return
    channel = TeamsChannel(get_settings())
    address = channel.resolve(Address("teams", user_id))
    if _conversation_of_address(address.to_dict()) != conversation:
        return  # reinstalled since: that card is in a chat we no longer write to
    ratelimit.pace(*channel.pacing(address))
    channel.update(address, card_id, chosen_activity(message, label))


def _conversation_of_address(address: dict[str, Any]) -> str | None:
    reference = (address.get("data") or {}).get("reference") or {}
    return (reference.get("conversation") or {}).get("id")


# ---- Flask wiring ----------------------------------------------------------------------------

bp = Blueprint("teams", __name__)


@bp.post("/api/messages")
def messages():
    channel = TeamsChannel(current_app.config["SETTINGS"])
    try:
        channel.verify(request)
    except Forbidden as exc:
        log.warning("Teams request refused: %s", exc)
        return {"error": {"code": "unauthorized", "message": "not a Bot Framework request "
                          "for this bot"}}, 401
    except BadActivity as exc:
        return {"error": {"code": "bad_request", "message": str(exc)}}, 400
    body = request.get_json()
    try:
        inbounds = channel.parse(request)
    except Exception as exc:  # a shape read_activity let through: still the caller's fault
        log.warning("Teams activity not understood: %s: %s", type(exc).__name__, exc)
        return {"error": {"code": "bad_request", "message": "not a Bot Framework activity "
                          f"Parley can read ({type(exc).__name__})"}}, 400
    contact = note_contact(body)
    fresh = accept(inbounds)
    if contact is not None and installed(body):
        _later("channels.teams.welcome", body["from"]["id"],
               job_id=jobs.job_key("teams-welcome", body["from"]["id"]))
    if fresh and inbounds and inbounds[0].choice and not inbounds[0].about \
            and body.get("replyToId"):  # a 1-on-1 card is updated by the change it made
        conversation = conversation_of(body)
        _later("channels.teams.mark_chosen", body["from"]["id"], conversation,
               body["replyToId"], inbounds[0].choice,
               job_id=jobs.job_key("teams-chosen", conversation, body["replyToId"]))
    return "", 200


def _later(func: str, *args, job_id: str) -> None:
    """A courtesy job (greeting, card update): with Redis away it is skipped, logged; what
    the person said is already safe in the inbox."""
    try:
        jobs.enqueue_once(func, *args, job_id=job_id)
    except RedisError as exc:
        log.warning("queue unreachable, %s skipped: %s", job_id, exc)


def loopback(url: str) -> bool:
    try:
        return loopback_host(urlsplit(url).hostname or "")
    except ValueError:  # an unparseable URL
        return False


def loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def init_app(app: Flask, settings: Settings) -> None:
    if settings.teams_dev_no_auth:
        if not loopback(settings.effective_public_base_url):
            raise ConfigError("TEAMS_DEV_NO_AUTH: refused, PUBLIC_BASE_URL "
                              f"{settings.effective_public_base_url} is not a loopback "
                              "address; unauthenticated Teams requests are for local "
                              "development only")
        log.warning("!!! TEAMS_DEV_NO_AUTH is on: /api/messages accepts UNAUTHENTICATED "
                    "activities. Development only; never expose this server. !!!")
    app.register_blueprint(bp)


# ---- the app package (python -m channels.teams manifest) ---------------------------------------

MANIFEST_VERSION = "1.22"  # the Teams developer docs' current app manifest schema
ACCENT = (0x4B, 0x53, 0xBC)


def manifest(settings: Settings, *, version: str = "1.0.0") -> dict[str, Any]:
    """manifest.json for "Upload a custom app": a bot in personal scope, on our domain."""
    if not settings.teams_app_id:
        raise ConfigError("TEAMS_APP_ID is needed: it is the bot id in the app package")
    base = settings.effective_public_base_url
    host = urlsplit(base).hostname or ""
    return {
        "$schema": "https://developer.microsoft.com/json-schemas/teams/"
                   f"v{MANIFEST_VERSION}/MicrosoftTeams.schema.json",
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": settings.teams_app_id,
        "developer": {"name": "Parley", "websiteUrl": base, "privacyUrl": f"{base}/privacy",
                      "termsOfUseUrl": f"{base}/terms"},
        "name": {"short": "Parley", "full": "Parley interviews"},
        "description": {
            "short": "Short, private interviews from your HR team.",
            "full": "Parley runs stay, exit and onboarding interviews in a personal chat. It "
                    "tells you first what is recorded and who will see your answers; you can "
                    "pause, skip or stop at any time."},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [{"botId": settings.teams_app_id, "scopes": ["personal"],
                  "supportsFiles": False, "isNotificationOnly": False}],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host] if host else [],
    }


def png(size: int, pixel) -> bytes:
    """A small RGBA PNG (no imaging library needed): ``pixel(x, y) -> (r, g, b, a)``."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(size))
                    for y in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def _bubble(x: float, y: float) -> bool:
    """A speech bubble in a unit square: a rounded box with a tail at the bottom left."""
    box = 0.18 <= x <= 0.82 and 0.22 <= y <= 0.66
    tail = 0.28 <= x <= 0.42 and 0.66 <= y <= 0.80 and (y - 0.66) <= (0.42 - x)
    return box or tail


def color_icon() -> bytes:
    """192×192, full colour: a white bubble on the accent colour."""
    return png(192, lambda x, y: (255, 255, 255, 255) if _bubble(x / 192, y / 192)
               else (*ACCENT, 255))


def outline_icon() -> bytes:
    """32×32, white on transparent (Teams' rule for outline icons)."""
    return png(32, lambda x, y: (255, 255, 255, 255) if _bubble(x / 32, y / 32)
               else (0, 0, 0, 0))


def write_package(settings: Settings, path, *, version: str = "1.0.0") -> None:
    """The zip Teams takes ("Upload a custom app"): three files, flat."""
    import json
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest(settings, version=version),
                                                     indent=2))
        package.writestr("color.png", color_icon())
        package.writestr("outline.png", outline_icon())


def main(argv: list[str] | None = None) -> int:
    import argparse

    from core.config import load_settings

    parser = argparse.ArgumentParser(prog="python -m channels.teams")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("manifest", help="write the Teams app package (zip)")
    build.add_argument("--out", default="parley-teams.zip")
    build.add_argument("--version", default="1.0.0", help="the app package's own version")
    args = parser.parse_args(argv)
    write_package(load_settings(), args.out, version=args.version)
    print(f"wrote {args.out}: upload it in Teams (Apps → Manage your apps → Upload an app)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
