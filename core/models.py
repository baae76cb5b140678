"""Persistence: SQLAlchemy 2.0 typed models for the vocabulary in DESIGN.md §1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime; use core.models.utcnow()")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Person(Base):
    __tablename__ = "person"
    # emails are matched case-insensitively (upsert, invites, Slack lookup)
    __table_args__ = (Index("ix_person_email_lower", func.lower(Column("email"))),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    slack_user_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # a Slack user id means something only with its workspace (PROTOCOLS.md, Slack)
    slack_team_id: Mapped[str | None] = mapped_column(String(40))
    teams_user_id: Mapped[str | None] = mapped_column(String(200), index=True)
    # Microsoft Entra (AAD) object id: how a Teams user is matched to the directory
    aad_object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True)
    # the HR system's id (upsert key before email) and the manager as the file named them
    # (an employee id or an email), so the hierarchy can be rebuilt from another source
    employee_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    manager_ref: Mapped[str | None] = mapped_column(String(320))
    # a full import marks people missing from the file inactive; nobody is deleted by it
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # erased under GDPR (``core.retention.erase_person``): a nameless tombstone, kept so
    # that interviews stay counted and foreign keys hold; the API no longer shows it
    erased_at: Mapped[datetime | None] = mapped_column()

    manager: Mapped[Person | None] = relationship(remote_side=[id])
    attributes: Mapped[list[PersonAttribute]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="PersonAttribute.key"
    )

    @property
    def demographics(self) -> dict[str, str]:
        return {a.key: a.value for a in self.attributes}


class PersonAttribute(Base):
    """One demographic key/value (Country = Germany); a row each so audiences are plain SQL."""

    __tablename__ = "person_attribute"
    __table_args__ = (
        UniqueConstraint("person_id", "key"),
        Index("ix_person_attribute_key_value", "key", "value"),
        Index("ix_person_attribute_key_folded", "key", "folded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(500))
    # ``core.directory.fold(value)``: lower case, no accents; audience rules compare this
    # (dates are kept as ISO YYYY-MM-DD in ``value``, so they compare as text)
    folded: Mapped[str] = mapped_column(String(500), default="", server_default="")


class SessionType(Base):
    __tablename__ = "session_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text, default="")
    anonymity: Mapped[str] = mapped_column(String(20), default="named")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    builtin: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default="published")  # draft | published
    # days participant text is kept raw (then only its redacted copy); None: the default,
    # RETENTION_RAW_TEXT_DAYS (core.retention)
    retention_days: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    topics: Mapped[list[Topic]] = relationship(
        primaryjoin="SessionType.id == Topic.session_type_id",
        order_by="Topic.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class Session(Base):
    """HR's configured instance of a SessionType, with its own copy of the topics."""

    __tablename__ = "session"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_type_id: Mapped[int] = mapped_column(ForeignKey("session_type.id"))
    name: Mapped[str] = mapped_column(String(200))
    anonymity: Mapped[str] = mapped_column(String(20), default="named")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner: Mapped[str] = mapped_column(String(200), default="")
    # the HR account that created it (None: the bootstrap ADMIN_API_TOKEN); members see
    # the sessions they own and those shared with them (SessionShare)
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("hr_user.id", ondelete="SET NULL"), index=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    locked_at: Mapped[datetime | None] = mapped_column()
    # invite automatically on HR dates: [{"on": "start_date", "days_after": 30}, …]
    triggers: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    cloned_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    session_type: Mapped[SessionType] = relationship(lazy="joined")
    topics: Mapped[list[Topic]] = relationship(
        primaryjoin="Session.id == Topic.session_id",
        order_by="Topic.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class Topic(Base):
    """A topic belongs to exactly one SessionType (the template) or one Session (its copy)."""

    __tablename__ = "topic"
    __table_args__ = (
        CheckConstraint(
            "(session_type_id IS NULL) <> (session_id IS NULL)", name="one_owner"
        ),
        CheckConstraint("priority IN ('low', 'medium', 'high')", name="priority"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_type_id: Mapped[int | None] = mapped_column(
        ForeignKey("session_type.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    probing_guidance: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(10), default="medium")
    context: Mapped[str] = mapped_column(Text, default="")
    opening_question: Mapped[str] = mapped_column(Text, default="")
    probes: Mapped[list[Any]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    COPIED = (
        "key", "label", "description", "probing_guidance", "priority", "context",
        "opening_question", "probes", "enabled", "position",
    )

    def copy(self) -> Topic:
        return Topic(**{name: getattr(self, name) for name in self.COPIED})


class Invite(Base):
    __tablename__ = "invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(20), default="web")
    # channels to try next, in order, when the person cannot be reached on ``channel``
    fallback: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="created")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    session: Mapped[Session] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")


class Interview(Base):
    __tablename__ = "interview"

    id: Mapped[int] = mapped_column(primary_key=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("invite.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="created", index=True)
    channel: Mapped[str] = mapped_column(String(20), default="web")
    # where the conversation is now (an Address as a dict); replies go here
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # planner state: {"topics": {key: {"questions", "probes", "status"}}, "asked": [...], ...}
    coverage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    current_topic: Mapped[str | None] = mapped_column(String(100))
    pauses_used: Mapped[int] = mapped_column(default=0)
    paused_at: Mapped[datetime | None] = mapped_column()
    # time spent paused, added up as each pause ends (core.engine.transition): an interview's
    # duration leaves it out
    paused_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    resume_prompted_at: Mapped[datetime | None] = mapped_column()
    drop_off_topic: Mapped[str | None] = mapped_column(String(100))
    sentiment: Mapped[float | None] = mapped_column(Float)  # mean of participant turns
    engagement: Mapped[float | None] = mapped_column(Float)  # 0–100, see core.metrics
    end_reason: Mapped[str] = mapped_column(Text, default="")
    restarted_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("interview.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)

    invite: Mapped[Invite] = relationship(lazy="joined")
    session: Mapped[Session] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")
    turns: Mapped[list[Turn]] = relationship(
        order_by="Turn.seq", cascade="all, delete-orphan", passive_deletes=True
    )


class Turn(Base):
    __tablename__ = "turn"
    __table_args__ = (UniqueConstraint("interview_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    interview_id: Mapped[int] = mapped_column(ForeignKey("interview.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))  # interviewer | participant | system
    text: Mapped[str] = mapped_column(Text)
    redacted_text: Mapped[str | None] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(100))
    sentiment: Mapped[float | None] = mapped_column(Float)
    channel: Mapped[str] = mapped_column(String(20), default="web")
    choices: Mapped[list[Any]] = mapped_column(default=list)
    provider_ids: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reasoning: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InterviewAnalytics(Base):
    """The figures of one ended interview (``core.analytics``), kept when it ends so that a
    session's aggregates are counts and sums over these rows, never a walk over its turns.
    Sentiment and engagement stay on the interview, where ``core.metrics`` puts them."""

    __tablename__ = "interview_analytics"

    interview_id: Mapped[int] = mapped_column(
        ForeignKey("interview.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # the interview's state when figured
    # first answer → end, less the time paused; None when nobody answered
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    paused_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    turns: Mapped[int] = mapped_column(default=0)  # interviewer and participant turns
    answers: Mapped[int] = mapped_column(default=0)  # typed participant answers
    interviewer_words: Mapped[int] = mapped_column(default=0)
    participant_words: Mapped[int] = mapped_column(default=0)
    response_seconds: Mapped[float | None] = mapped_column(Float)  # median, question → answer
    questions_asked_back: Mapped[int] = mapped_column(default=0)
    probed_topics: Mapped[int] = mapped_column(default=0)
    probed_topics_rich: Mapped[int] = mapped_column(default=0)  # a probe drew a rich answer
    drop_off_topic: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(20))  # where most answers came from
    channels: Mapped[list[Any]] = mapped_column(default=list)  # every channel, first use first
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopicAnalytics(Base):
    """One topic of one ended interview: whether it was reached and what its answers were,
    so a session's drop-off funnel is one GROUP BY."""

    __tablename__ = "interview_topic_analytics"

    interview_id: Mapped[int] = mapped_column(
        ForeignKey("interview.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # the planner's: done, skipped, dropped …
    reached: Mapped[bool] = mapped_column(default=False)  # its opening question was asked
    answers: Mapped[int] = mapped_column(default=0)
    words: Mapped[int] = mapped_column(default=0)
    sentiment: Mapped[float | None] = mapped_column(Float)  # mean of its answers
    probed: Mapped[bool] = mapped_column(default=False)
    rich: Mapped[bool] = mapped_column(default=False)  # probed, and a probe drew a rich answer


class InboundEvent(Base):
    """The durable inbox: one row per provider event; (channel, event_id) is the dedup key."""

    __tablename__ = "inbound_event"
    __table_args__ = (UniqueConstraint("channel", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # pending → processed | ignored | failed; failed rows are kept for operators
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    # the conversation it belonged to, so deleting an interview deletes what was sent to it
    interview_id: Mapped[int | None] = mapped_column(
        ForeignKey("interview.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()


class OutboundRecord(Base):
    """The durable outbox: one row per message to send; ``deliver`` sends it once."""

    __tablename__ = "outbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    interview_id: Mapped[int | None] = mapped_column(
        ForeignKey("interview.id", ondelete="CASCADE"), index=True
    )
    turn_id: Mapped[int | None] = mapped_column(
        ForeignKey("turn.id", ondelete="CASCADE"), index=True)
    # email: the invite whose web link this message carries (no interview yet)
    invite_id: Mapped[int | None] = mapped_column(
        ForeignKey("invite.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    # the RQ queue its deliver job goes on: "interactive" (replies) or "bulk" (rollouts,
    # reminders), so a reply never waits behind a rollout (core.jobs)
    queue: Mapped[str] = mapped_column(String(12), default="interactive",
                                       server_default="interactive")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()  # when a worker began sending
    sent_at: Mapped[datetime | None] = mapped_column()
    # a 1-on-1's message: its pair (deleted with it) and the agenda item it shows, if one
    one_on_one_id: Mapped[int | None] = mapped_column(
        ForeignKey("one_on_one.id", ondelete="CASCADE"), index=True)
    agenda_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("agenda_item.id", ondelete="SET NULL"), index=True)
    # SMS: what the message costs (GSM-7 / UCS-2 segments), set when it is rendered for sending
    segments: Mapped[int | None] = mapped_column()
    # SMS: the provider's id of each part as it went out, so a retry's find_sent knows its
    # own parts from another row's text with the same body
    provider_ids: Mapped[list[Any] | None] = mapped_column()


class PhoneNumber(Base):
    """The SMS ledger: what we know of one phone number (E.164). An opt-out (STOP and its
    kin, or Twilio's error 21610) is law: nothing is sent there until the number opts in."""

    __tablename__ = "phone_number"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(String(200), default="")  # the keyword, or the error
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a number we know nobody by gets one polite reply, ever (no loops with auto-responders)
    stranger_replied_at: Mapped[datetime | None] = mapped_column()


class TeamsContact(Base):
    """Someone who installed the Teams app: the ConversationReference of their personal chat
    (what a proactive send needs), kept even before they are matched to a Person."""

    __tablename__ = "teams_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), unique=True)  # Teams "29:…" id
    aad_object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320), index=True)  # UPN from the roster
    reference: Mapped[dict[str, Any]] = mapped_column(default=dict)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True)
    greeted_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DirectorySetting(Base):
    """One directory-wide setting by name, e.g. ``hierarchy`` → {"source": "demographic",
    "demographic": "Manager Email"}."""

    __tablename__ = "directory_setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rollout(Base):
    """One fan-out to an audience (DESIGN.md §4): invites to a Session now; agenda items of an
    AssignedTopic later. A session trigger (onboarding on Start Date + 30) is one standing
    rollout that new recipients join day by day (``trigger_key``)."""

    __tablename__ = "rollout"
    __table_args__ = (UniqueConstraint("session_id", "trigger_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="invite")
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True)
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the audience rule
    channels: Mapped[list[Any]] = mapped_column(default=list)  # in order of preference
    send_at: Mapped[datetime | None] = mapped_column()
    local_time: Mapped[str | None] = mapped_column(String(5))  # "09:00" in each person's zone
    reminders: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"after_days": [3, 5]}
    # quiet hours and working days as resolved at creation (settings' defaults, overridden)
    quiet_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    respect_quiet_hours: Mapped[bool] = mapped_column(default=True)
    trigger_key: Mapped[str | None] = mapped_column(String(100))
    # draft | scheduled | sending | paused | completed | cancelled
    state: Mapped[str] = mapped_column(String(20), default="scheduled", index=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    session: Mapped[Session | None] = relationship(lazy="joined")


class RolloutRecipient(Base):
    """One person in one rollout: unique, so whatever the retries a person gets one invite."""

    __tablename__ = "rollout_recipient"
    __table_args__ = (
        UniqueConstraint("rollout_id", "person_id"),
        Index("ix_rollout_recipient_due", "status", "due_at"),
        Index("ix_rollout_recipient_reminder", "next_reminder_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollout.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str | None] = mapped_column(String(20))  # the first one they can be reached on
    # pending → invited | unreachable | opted_out | cancelled (what became of the invite is
    # read from it: sent, delivered, responded, failed)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime | None] = mapped_column()  # when it may leave (UTC)
    invite_id: Mapped[int | None] = mapped_column(
        ForeignKey("invite.id", ondelete="SET NULL"), index=True)
    outbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound.id", ondelete="SET NULL"), index=True)  # the first message
    sent_at: Mapped[datetime | None] = mapped_column()
    reminders_sent: Mapped[int] = mapped_column(default=0)
    next_reminder_at: Mapped[datetime | None] = mapped_column()
    # an assigned topic's rollout: the person is the report, this their pair with the manager
    one_on_one_id: Mapped[int | None] = mapped_column(
        ForeignKey("one_on_one.id", ondelete="CASCADE"), index=True)
    agenda_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("agenda_item.id", ondelete="SET NULL"), index=True)


class OneOnOne(Base):
    """A pair and its thread (DESIGN.md §1): ``kind`` "reporting" is a manager (``first``)
    and a direct report (``second``) from the hierarchy; "anyone" is Meet with Anyone, the
    two people in id order. A pair whose link left the hierarchy is retired (``active``
    false): its history stays, read-only; the link coming back brings it back."""

    __tablename__ = "one_on_one"
    __table_args__ = (UniqueConstraint("kind", "first_id", "second_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="reporting")
    first_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"),
                                          index=True)
    second_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"),
                                           index=True)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    # where the thread is: chosen from what both can be reached on; the address once opened
    channel: Mapped[str | None] = mapped_column(String(20))
    thread: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the provider's id of the thread (a Slack group DM's channel), to find the pair by
    thread_id: Mapped[str | None] = mapped_column(String(200), index=True)
    cadence_days: Mapped[int] = mapped_column(default=7, server_default="7")
    next_reminder_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column()
    last_activity_at: Mapped[datetime | None] = mapped_column()

    first: Mapped[Person] = relationship(foreign_keys=[first_id], lazy="joined",
                                         innerjoin=True)
    second: Mapped[Person] = relationship(foreign_keys=[second_id], lazy="joined",
                                          innerjoin=True)


class Meeting(Base):
    """One sitting of a pair: open until either person closes it ("Done for today"); what
    was not discussed carries to the next."""

    __tablename__ = "meeting"
    __table_args__ = (UniqueConstraint("one_on_one_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    one_on_one_id: Mapped[int] = mapped_column(
        ForeignKey("one_on_one.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(default=1)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"))


class AgendaItem(Base):
    """A talking point of a pair, on its current meeting: from either person, or an
    AssignedTopic (``added_by_id`` empty). Unique per (topic, pair): once per pair, whatever
    the retries. ``version`` counts edits, so a message sent before an edit is updated."""

    __tablename__ = "agenda_item"
    __table_args__ = (UniqueConstraint("assigned_topic_id", "one_on_one_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    one_on_one_id: Mapped[int] = mapped_column(
        ForeignKey("one_on_one.id", ondelete="CASCADE"), index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"),
                                            index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    added_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"))
    assigned_topic_id: Mapped[int | None] = mapped_column(
        ForeignKey("assigned_topic.id", ondelete="CASCADE"), index=True)
    # open | carried (kept for the next meeting) | discussed | withdrawn (by HR)
    state: Mapped[str] = mapped_column(String(20), default="open")
    carried: Mapped[int] = mapped_column(default=0)  # meetings it has been carried over
    discussed_at: Mapped[datetime | None] = mapped_column()
    discussed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1)
    # the first message that showed it (any leg); ``messages`` has each leg's: a Teams
    # thread is each person's chat ("p<person id>"), other threads one ("thread")
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    messages: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PrivateNote(Base):
    """A person's own note on a 1-on-1: shown to its author only, never in a report, an
    export or an admin API."""

    __tablename__ = "private_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    one_on_one_id: Mapped[int] = mapped_column(
        ForeignKey("one_on_one.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssignedTopic(Base):
    """HR's discussion prompt for manager–report pairs matched on the report's
    demographics; delivered through a Rollout (kind "assigned_topic")."""

    __tablename__ = "assigned_topic"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    annotation: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assigned_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"))
    # draft | scheduled | sending | sent | withdrawn
    state: Mapped[str] = mapped_column(String(20), default="draft")
    send_at: Mapped[datetime | None] = mapped_column()
    local_time: Mapped[str | None] = mapped_column(String(5))
    respect_quiet_hours: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)
    rollout_id: Mapped[int | None] = mapped_column(
        ForeignKey("rollout.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column()

    assigned_by: Mapped[Person | None] = relationship(lazy="joined")


class PairActivity(Base):
    """Something either person did in a pair's thread (an item added, discussed, a meeting
    closed, a note, a message): what the usage report counts. Never what was written."""

    __tablename__ = "pair_activity"
    __table_args__ = (Index("ix_pair_activity_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    one_on_one_id: Mapped[int] = mapped_column(
        ForeignKey("one_on_one.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """An HR account: who may do what through the API (``role``) and who did it (the audit
    log). People in the directory are a different thing: HR users need not be in it."""

    __tablename__ = "hr_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))  # owner | member | viewer | analyst
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id; None: link only
    active: Mapped[bool] = mapped_column(default=True)
    # bumped when the password changes or the account is disabled: older cookies stop working
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


class ApiToken(Base):
    """A bearer credential, stored as the SHA-256 of its random value (shown once): a
    personal token for scripts, the short-lived token of a sign-in, or a one-time sign-in
    link. High-entropy values need no slow hash; passwords get argon2."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hr_user.id", ondelete="CASCADE"),
                                         index=True)
    kind: Mapped[str] = mapped_column(String(20))  # personal | login | link
    name: Mapped[str] = mapped_column(String(100), default="")
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in lists to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class SessionShare(Base):
    """A Session shared with a member, who then sees and runs it as its owner does."""

    __tablename__ = "session_share"

    session_id: Mapped[int] = mapped_column(ForeignKey("session.id", ondelete="CASCADE"),
                                            primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hr_user.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[int | None] = mapped_column()
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Insight(Base):
    """One run of a session's insights: what all its (released) interviews say together.
    Immutable once computed — a later run is a new version — so a reader can cite one."""

    __tablename__ = "insight"
    __table_args__ = (UniqueConstraint("session_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id", ondelete="CASCADE"),
                                            index=True)
    version: Mapped[int] = mapped_column()
    # queued | running | done | failed
    status: Mapped[str] = mapped_column(String(20), default="queued")
    engine: Mapped[str] = mapped_column(String(20), default="offline")  # offline | llm
    group_by: Mapped[str] = mapped_column(String(100), default="Department")
    interviews: Mapped[int] = mapped_column(default=0)  # how many it was computed from
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    computed_at: Mapped[datetime | None] = mapped_column()


class WebhookEndpoint(Base):
    """A URL HR registered for events (core/webhooks.py). The secret signs every delivery;
    the API shows it once, when the endpoint is created."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[Any]] = mapped_column(default=list)  # the event types it wants
    secret: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """The webhook outbox: one event for one endpoint. ``event_id`` is the event's, the same
    for every endpoint and every redelivery, so a receiver can drop what it has seen.
    pending → sending → delivered | failed; a failed attempt goes back to pending with its
    ``next_attempt_at`` (the sweeper sends it then) until the retry window is over."""

    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the body, as sent
    # a named session's interview event names its person: deleted with the interview
    interview_id: Mapped[int | None] = mapped_column(
        ForeignKey("interview.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_response: Mapped[str] = mapped_column(Text, default="")  # a short prefix of the body
    redelivery_of: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_delivery.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


class Export(Base):
    """One bulk export (core/exports.py): what was asked (format, filters, and the reader's
    restriction: which sessions, and whether identity may be shown), its progress, and,
    once ready, its file in ``export_file`` until ``expires_at``."""

    __tablename__ = "export"

    id: Mapped[int] = mapped_column(primary_key=True)
    format: Mapped[str] = mapped_column(String(10))  # csv | jsonl | zip
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    session_ids: Mapped[list[Any] | None] = mapped_column(JSON)  # None: every session
    identity: Mapped[bool] = mapped_column(default=True)  # False: every session as aggregated
    # queued | running | ready | failed | expired
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    size: Mapped[int | None] = mapped_column()  # bytes of the file
    withheld: Mapped[list[Any]] = mapped_column(default=list)  # [{session_id, reason}]
    error: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class ExportFile(Base):
    """An export's file in pieces, kept in the database so any web process on any machine
    can serve it (no shared disk); deleted when the export expires."""

    __tablename__ = "export_file"

    export_id: Mapped[int] = mapped_column(ForeignKey("export.id", ondelete="CASCADE"),
                                           primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
