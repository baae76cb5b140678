"""Request bodies of the HR API. Pydantic validates them and the OpenAPI document reuses them,
so each model's JSON schema must say exactly what it accepts: the rules pydantic checks in a
validator are repeated as JSON schema (``oneOf`` / ``anyOf``) beside it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    model_validator,
)

from core import webhooks
from core.directory.audiences import Rule
from core.sessions import SessionSettings

MAX_ID = 2**31 - 1  # ids are 32-bit integers: a larger one names nothing (and overflows SQLite)


def _integral(value: Any) -> Any:
    """JSON (and JSON schema) has one number type: 3.0 is the integer 3, "3" is not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# constraints before the validator, or pydantic drops them from the JSON schema
Int = Annotated[int, BeforeValidator(_integral)]
Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_integral)]
# what a mail server would take, and the same rule in pydantic and in JSON schema
Email = Annotated[str, Field(max_length=320,
                             pattern=r"^[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+\.[^@\x00-\x20\x7f]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def read_only() -> Any:
    """A field GET returns that a PATCH may send back unchanged: accepted, never applied."""
    return Field(None, json_schema_extra={"readOnly": True,
                                          "description": "read-only: accepted and ignored"})


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _patch_of(model: type[BaseModel], name: str) -> type[Strict]:
    """``model`` with every field optional but never null: the settings a PATCH may change.
    Derived, so a new setting is patchable the day it is added."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        kind = info.annotation
        if kind is int:
            kind = Annotated[(int, *info.metadata, BeforeValidator(_integral))]
        fields[field_name] = (kind, Field(None, description=info.description,
                                          json_schema_extra=_no_default))
    return create_model(name, __base__=Strict, __doc__=model.__doc__, **fields)


SettingsPatch = _patch_of(SessionSettings, "SettingsPatch")


def _present(name: str, json_type: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"type": json_type}}}


class PersonIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: Email
    employee_id: str | None = Field(None, min_length=1, max_length=100, description=(
        "the HR system's id: matched before the email"))
    phone: str | None = Field(None, max_length=40, description="any spelling; kept as E.164 "
                              "(422 when it is not a phone number)")
    slack_user_id: str | None = Field(None, max_length=40)
    teams_user_id: str | None = Field(None, max_length=200)
    aad_object_id: str | None = Field(None, max_length=64)  # Teams: Entra object id
    timezone: str | None = Field(None, max_length=64)
    manager_email: Email | None = None
    demographics: dict[Annotated[str, Field(max_length=100)],
                       Annotated[str, Field(max_length=500)]] | None = None


class TopicIn(Strict):
    """A topic in a full ordered list: with ``id`` an edit (only the fields sent change),
    without one a new topic (``label`` required)."""

    model_config = ConfigDict(json_schema_extra={
        "anyOf": [_present("id", "integer"), _present("label", "string")]})

    id: Id | None = None
    key: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    label: str | None = Field(None, min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    probing_guidance: str = Field("", max_length=4000)
    priority: Literal["low", "medium", "high"] = "medium"
    context: str = Field("", max_length=4000)
    opening_question: str = Field("", max_length=1000)
    probes: list[Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=list, max_length=10)
    enabled: bool = True
    position: Int | None = read_only()

    @model_validator(mode="after")
    def _new_needs_label(self):
        if self.id is None and self.label is None:
            raise ValueError("a new topic (no id) needs a label")
        return self


TOPICS = ("The full ordered list: listed order is the new order; a topic with an id is edited, "
          "one without is added, an omitted one is removed. A list equal to the current one "
          "changes nothing (so a locked session accepts its own topics back).")


# ---- rollouts and triggers (core/rollouts.py) ----
LocalTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                                 description="a time of day HH:MM in each person's zone")]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Channel = Annotated[str, Field(max_length=20)]
Days = Annotated[int, Field(ge=0, le=365), BeforeValidator(_integral)]


class Trigger(Strict):
    """Invite automatically on an HR date: N days after Start Date (default 30) or N days
    before End Date (default 0)."""

    model_config = ConfigDict(json_schema_extra={"not": {
        "required": ["days_after", "days_before"],
        "properties": {"days_after": {"type": "integer"}, "days_before": {"type": "integer"}}}})

    on: Literal["start_date", "end_date"]
    days_after: Days | None = None
    days_before: Days | None = None
    channels: list[Channel] | None = Field(
        None, min_length=1, max_length=5, json_schema_extra={"uniqueItems": True},
        description="in order of preference; default: every configured channel")
    local_time: LocalTime = "09:00"

    @model_validator(mode="after")
    def _one_offset(self):
        if self.days_after is not None and self.days_before is not None:
            raise ValueError('give one of "days_after" or "days_before"')
        return self


TRIGGERS = ("Invite automatically on HR dates (Start Date / End Date demographics), e.g. "
            '[{"on": "start_date", "days_after": 30}]; may change on a locked session')


class QuietHours(Strict):
    start: LocalTime
    end: LocalTime


class Reminders(Strict):
    after_days: list[Annotated[int, Field(ge=1, le=30), BeforeValidator(_integral)]] = Field(
        default_factory=list, max_length=5,
        description="days after the invite to remind someone who has not finished")


class RolloutCreate(Strict):
    audience: Rule = Field(default_factory=Rule, description="an audience rule; {} = everyone")
    channels: list[Channel] = Field(
        min_length=1, max_length=5, json_schema_extra={"uniqueItems": True}, description=(
            "in order of preference: each person is invited on the first they can be reached "
            "on; a web link goes out by email (422 without the email channel)"))
    send_at: Annotated[datetime | None, Field(strict=False)] = Field(
        None, description="ISO time (UTC when it has no offset); with local_time, its date")
    local_time: LocalTime | None = None
    reminders: Reminders | None = None
    respect_quiet_hours: bool = True
    quiet_hours: QuietHours | None = Field(None, description="default: QUIET_HOURS")
    working_days: list[Day] | None = Field(None, min_length=1, max_length=7,
                                           description="default: WORKING_DAYS")


class SessionCreate(Strict):
    session_type: Id | str = Field(description="a SessionType id or slug")
    name: str = Field(min_length=1, max_length=200)
    anonymity: Literal["named", "aggregated"] | None = Field(
        None, description="named: HR sees who said what; aggregated: only groups of at least "
        "the anonymity_threshold setting. Default: the session type's")
    settings: SettingsPatch | None = None
    owner: str = Field("", max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=50)
    triggers: list[Trigger] | None = Field(None, max_length=10, description=TRIGGERS)


class SessionPatch(Strict):
    """Send only what changes, or a whole session from GET with one thing changed."""

    name: str | None = Field(None, min_length=1, max_length=200)
    tags: list[str] | None = Field(None, max_length=50)
    owner: str | None = Field(None, max_length=200)
    settings: SettingsPatch | None = None
    topics: list[TopicIn] | None = Field(None, min_length=1, description=TOPICS)
    triggers: list[Trigger] | None = Field(None, max_length=10, description=TRIGGERS)
    id: Int | None = Field(None, description="read-only: when sent, the id in the URL")
    session_type: str | None = read_only()
    anonymity: str | None = read_only()
    counts: dict[str, Any] | None = read_only()
    owner_user_id: Int | None = read_only()
    locked: bool | None = read_only()
    locked_at: str | None = read_only()
    cloned_from: Int | None = read_only()
    created_at: str | None = read_only()


class SessionClone(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)


class InviteCreate(Strict):
    model_config = ConfigDict(json_schema_extra={
        "oneOf": [_present("person", "object"), _present("person_id", "integer")]})

    person: PersonIn | None = None
    person_id: Id | None = None
    channel: str = "web"
    fallback: list[str] = Field(
        default_factory=list, max_length=5,
        description="channels to try next, in order, when the person cannot be reached on "
                    "`channel` (no address there, not installed, opted out)")

    @model_validator(mode="after")
    def _one_person(self):
        if (self.person is None) == (self.person_id is None):
            raise ValueError('give exactly one of "person" or "person_id"')
        return self


class InterviewEnd(Strict):
    reason: str = Field("ended by HR", max_length=500)


class SessionTypeGenerate(Strict):
    description: str = Field(min_length=1, max_length=2000, pattern=r"\S",
                             description="what HR wants to learn, in a sentence or two")


class SessionTypePatch(Strict):
    """Send only what changes, or a whole session type from GET with one thing changed."""

    name: str | None = Field(None, min_length=1, max_length=200)
    purpose: str | None = Field(None, max_length=2000)
    anonymity: Literal["named", "aggregated"] | None = None
    settings: SettingsPatch | None = None
    status: Literal["draft", "published"] | None = None
    topics: list[TopicIn] | None = Field(None, min_length=1, description=TOPICS)
    id: Int | None = Field(None, description="read-only: when sent, this type's id")
    slug: str | None = read_only()
    builtin: bool | None = read_only()
    topic_count: Int | None = read_only()


class AudiencePreview(Strict):
    """The rule under the key rollouts take it by (``{"audience": rule}``), so a body that
    previews is the start of one that rolls out."""

    audience: Rule


class HierarchyIn(Strict):
    source: Literal["manager_column", "demographic"] = Field(description=(
        "where manager links come from: the import's manager column, or a demographic"))
    demographic: str | None = Field(None, max_length=100, description=(
        'with source "demographic": the one holding each manager\'s email or employee id, '
        'e.g. "Manager Email" (422 when nobody has it)'))


class OneOnOneCreate(Strict):
    """Meet with Anyone, or a report and their manager: the pair of these two people."""

    people: list[Id] = Field(min_length=2, max_length=2, description="two person ids")


class AgendaItemCreate(Strict):
    text: str = Field(min_length=1, max_length=1000)
    added_by: Id = Field(description="the person adding it: one of the pair")


class AssignedTopicCreate(Strict):
    title: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=4000)
    annotation: str = Field("", max_length=4000, description="HR's annotation, shown to both")
    audience: Rule = Field(description="over the report's demographics: which manager–report "
                           "pairs get the topic")
    assigned_by: Id | None = Field(None, description="the HR author's person id")
    send_at: Annotated[datetime | None, Field(strict=False)] = Field(
        None, description="ISO time; with local_time, its date. Without both: a draft")
    local_time: LocalTime | None = None
    respect_quiet_hours: bool = True


class AssignedTopicPatch(Strict):
    """Wording any time (what was sent is updated in place); audience and time in a draft."""

    title: str | None = Field(None, min_length=1, max_length=200)
    note: str | None = Field(None, max_length=4000)
    annotation: str | None = Field(None, max_length=4000)
    audience: Rule | None = None
    send_at: Annotated[datetime | None, Field(strict=False)] = None
    local_time: LocalTime | None = None
    respect_quiet_hours: bool | None = None


class AssignedTopicPreview(Strict):
    audience: Rule


class InsightRequest(Strict):
    group_by: str = Field("Department", min_length=1, max_length=100, pattern=r"\S",
                          description="the demographic each pattern's groups are counted by")


class PatternAssign(Strict):
    """An assigned topic from an insight's pattern: to the managers of the pattern's group
    (its group_by values with at least the anonymity threshold of people), unless an
    audience is given."""

    title: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=4000)
    annotation: str = Field("", max_length=4000)
    assigned_by: Id | None = None
    audience: Rule | None = Field(None, description="instead of the pattern's group")
    send_at: Annotated[datetime | None, Field(strict=False)] = None
    local_time: LocalTime | None = None
    respect_quiet_hours: bool = True


# ---- accounts ----
Role = Literal["owner", "member", "viewer", "analyst"]


class Login(Strict):
    email: Email
    password: str = Field(min_length=1, max_length=1000)


class UserCreate(Strict):
    email: Email
    name: str = Field("", max_length=200)
    role: Role
    password: str | None = Field(None, min_length=12, max_length=1000, description=(
        "at least 12 characters; without it the answer holds a one-time sign-in link"))


class UserPatch(Strict):
    email: Email | None = None
    name: str | None = Field(None, max_length=200)
    role: Role | None = None
    password: str | None = Field(None, min_length=12, max_length=1000)
    active: bool | None = None


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    expires_at: Annotated[datetime | None, Field(strict=False)] = Field(
        None, description="ISO time (UTC when it has no offset); none: until revoked")


class SessionShares(Strict):
    user_ids: list[Id] = Field(max_length=200, description="members who see and run this "
                               "session as its owner does (replaces the list)")


WebhookEvent = Literal[webhooks.EVENTS]  # type: ignore[valid-type]


class WebhookCreate(Strict):
    url: str = Field(min_length=1, max_length=2000, description=(
        "http or https; refused (422) when it resolves to a loopback, private, link-local, "
        "multicast, reserved or unspecified address, unless WEBHOOK_ALLOW_PRIVATE=1"))
    events: list[WebhookEvent] = Field(min_length=1, max_length=4,
                                       json_schema_extra={"uniqueItems": True})
    secret: str | None = Field(None, min_length=16, max_length=200, pattern=r"^[\x21-\x7e]+$",
                               description="signs deliveries; generated when not given. "
                               "Shown in this answer only")

    @model_validator(mode="after")
    def _unique_events(self):
        if len(set(self.events)) != len(self.events):
            raise ValueError("events: an event is listed twice")
        return self


ExportStatusFilter = Literal["created", "consent", "in_progress", "paused", "completed",
                             "declined", "abandoned", "admin_ended", "restarted"]


class ExportFilters(Strict):
    """Which interviews a bulk export holds; every filter optional. An aggregated session
    is exported whole (its released answers) or not at all: from, to and channel never
    slice it, and a status other than completed leaves it out."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    session_id: Id | None = None
    from_: Annotated[datetime | None, Field(strict=False)] = Field(
        None, alias="from", description="interviews started at or after this ISO time")
    to: Annotated[datetime | None, Field(strict=False)] = Field(
        None, description="interviews started before this ISO time")
    status: ExportStatusFilter | None = None
    channel: Literal["web", "slack", "teams", "sms", "email"] | None = None
    tag: str | None = Field(None, min_length=1, max_length=100)


class ExportCreate(Strict):
    format: Literal["csv", "jsonl", "zip"]
    filters: ExportFilters = Field(default_factory=ExportFilters)


class RetentionOverride(Strict):
    session_type: Annotated[str, Field(min_length=1, max_length=100)] | Id = Field(
        description="a session type's id or slug")
    raw_text_days: Annotated[int, Field(ge=1, le=36500),
                             BeforeValidator(_integral)] | None = Field(description=(
        "days its participants' text is kept as written; null: RETENTION_RAW_TEXT_DAYS"))


class RetentionSettingsIn(Strict):
    """Per session type overrides of how long raw participant text is kept."""

    session_types: list[RetentionOverride] = Field(min_length=1, max_length=100)
