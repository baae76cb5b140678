"""Retention and erasure (issue 14, item 5): how long what people wrote is kept, and how a
person is erased.

Retention (``run``, a daily job): what a participant wrote is kept as written for
RETENTION_RAW_TEXT_DAYS (365; per session type ``SessionType.retention_days``), counted from
the interview's end (or the turn, while it has not ended); then the raw text is replaced by
its PII-redacted copy, which stays until the interview is deleted. Message payloads in the
inbox and outbox, and audit-log details, are emptied after RETENTION_PAYLOAD_DAYS (30): the
rows stay, with their status, because they are the exactly-once ledger. A 1-on-1 pair
retired for longer than the raw-text limit loses its private notes, and its agenda items
their PII (redacted). Each kind is worked through in batches of ``BATCH`` rows, one short
transaction each, so a large table is never locked for long.

Erasure (``erase_person``, GDPR): the person's identity and everything they wrote, in every
session, goes; what is left is a nameless tombstone with counts — interviews as anonymous
shells, their analytics figures, rollout and pair counts.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session as DB

from core import db as database
from core import exports, insights, jobs, phones, privacy, ratelimit
from core.config import get_settings
from core.lifecycle import State
from core.models import (
    AgendaItem,
    AuditLog,
    InboundEvent,
    Interview,
    Invite,
    OneOnOne,
    OutboundRecord,
    Person,
    PersonAttribute,
    PrivateNote,
    RolloutRecipient,
    Session,
    SessionType,
    TeamsContact,
    Turn,
    WebhookDelivery,
    utcnow,
)

log = logging.getLogger(__name__)

BATCH = 1000  # rows per transaction
REPORT_ACTION = "retention.run"  # the audit row that keeps each run's report
# outbox rows still on their way (or waiting for an operator) keep what they will send
UNFINISHED = ("pending", "sending", "held")
KINDS = ("turns", "coverage", "inbound_payloads", "outbound_payloads", "audit_details",
         "private_notes", "agenda_items", "webhook_payloads")
ENDED = (State.COMPLETED, State.DECLINED, State.ABANDONED, State.ADMIN_ENDED, State.RESTARTED)


def raw_text_days(session_type: SessionType) -> int:
    """How long this type's participant text is kept as written."""
    return session_type.retention_days or get_settings().retention_raw_text_days


# ---- retention ---------------------------------------------------------------------------

class _Batches:
    """Runs one kind of work batch by batch, each in its own transaction, and times them."""

    def __init__(self, size: int):
        self.size, self.count, self.longest = size, 0, 0.0
        self.seconds: dict[str, float] = {}

    def walk(self, kind: str, ids: Callable[[DB, int, int], list[int]],
             apply: Callable[[DB, list[int]], int]) -> int:
        """``ids(s, after, limit)``: the next ids to work on, ascending; ``apply`` changes
        them and says how many it changed."""
        after, changed = 0, 0
        while True:
            started = time.perf_counter()
            with database.session_scope() as s:
                batch = ids(s, after, self.size)
                if batch:
                    changed += apply(s, batch)
            took = time.perf_counter() - started
            self.longest = max(self.longest, took)
            self.seconds[kind] = self.seconds.get(kind, 0.0) + took
            self.count += 1
            if len(batch) < self.size:
                return changed
            after = batch[-1]


def _empty_old(work: _Batches, kind: str, column, *where) -> int:
    """Empty ``column`` (a JSON column) in batches of the rows matching ``where``."""
    model = column.class_

    def ids(s: DB, after: int, limit: int) -> list[int]:
        return list(s.scalars(select(model.id).where(model.id > after, *where, _empty(column))
                              .order_by(model.id).limit(limit)))

    return work.walk(kind, ids, lambda s, batch: _set(s, model, batch, **{column.key: {}}))


def _empty(column) -> Any:
    """True where a JSON column holds something (not ``{}``) — its text, on either back end."""
    return cast(column, Text) != "{}"


def run(now: datetime | None = None, *, batch: int = BATCH) -> dict[str, Any]:
    """The daily job: apply the retention limits as of ``now`` (default: the clock).

    Idempotent: what was pruned is not found again. The scheduler enqueues it hourly under
    one job id per day; a scheduled call (no ``now``) on a day that has a report already
    answers that report (``skipped``). The report — counts per kind, not a word of what
    was removed — is logged and kept in the audit log (``last_report``)."""
    scheduled = now is None
    now = now or utcnow()
    if scheduled and (last := last_report()) is not None \
            and last["at"][:10] == now.date().isoformat():
        return {**last, "skipped": True}
    settings = get_settings()
    started = time.perf_counter()
    work = _Batches(batch)
    counts = dict.fromkeys(KINDS, 0)

    with database.session_scope() as s:
        types = [(st.id, raw_text_days(st)) for st in s.scalars(select(SessionType))]
    for type_id, days in types:
        turns, coverage = _raw_text(work, type_id, now - timedelta(days=days))
        counts["turns"] += turns
        counts["coverage"] += coverage

    cutoff = now - timedelta(days=settings.retention_payload_days)
    # the rows stay (the exactly-once ledger, who did what, a delivery's status); what they
    # carried goes. Rows still on their way keep what they will send.
    for kind, column, when, still in (
            ("inbound_payloads", InboundEvent.payload, InboundEvent.received_at,
             InboundEvent.status != "pending"),
            ("outbound_payloads", OutboundRecord.payload, OutboundRecord.created_at,
             OutboundRecord.status.not_in(UNFINISHED)),
            ("audit_details", AuditLog.detail, AuditLog.at,
             AuditLog.action != REPORT_ACTION),  # the reports: counts only
            # a named session's interview event names its person
            ("webhook_payloads", WebhookDelivery.payload, WebhookDelivery.created_at,
             WebhookDelivery.status.in_(("delivered", "failed")))):
        counts[kind] = _empty_old(work, kind, column, when < cutoff, still)

    retired = now - timedelta(days=settings.retention_raw_text_days)
    of_retired = select(OneOnOne.id).where(OneOnOne.active.is_(False),
                                           OneOnOne.retired_at < retired)
    counts["private_notes"] = work.walk(
        "private_notes",
        lambda s, after, limit: list(s.scalars(
            select(PrivateNote.id).where(PrivateNote.id > after,
                                         PrivateNote.one_on_one_id.in_(of_retired))
            .order_by(PrivateNote.id).limit(limit))),
        lambda s, ids: s.execute(delete(PrivateNote).where(PrivateNote.id.in_(ids))).rowcount)
    counts["agenda_items"] = work.walk(
        "agenda_items",
        lambda s, after, limit: list(s.scalars(
            select(AgendaItem.id).where(AgendaItem.id > after,
                                        AgendaItem.one_on_one_id.in_(of_retired))
            .order_by(AgendaItem.id).limit(limit))),
        _redact_items)

    report = {"at": utcnow().isoformat(), "as_of": now.isoformat(), "counts": counts,
              "seconds": round(time.perf_counter() - started, 3), "batches": work.count,
              "longest_transaction_seconds": round(work.longest, 3),
              "seconds_per_kind": {k: round(v, 3) for k, v in work.seconds.items()},
              "limits": {"raw_text_days": settings.retention_raw_text_days,
                         "payload_days": settings.retention_payload_days,
                         "session_types": {str(i): d for i, d in types}}}
    with database.session_scope() as s:
        s.add(AuditLog(actor="scheduler", action=REPORT_ACTION, target_type="retention",
                       target_id=None, detail=report))
    log.info("retention as of %s: %s in %.1f s (%d batches, longest %.3f s)",
             report["as_of"], " ".join(f"{k}={v}" for k, v in counts.items()),
             report["seconds"], work.count, work.longest)
    return report


def last_report() -> dict[str, Any] | None:
    """The latest run's report, for operators (GET /api/v1/ops/retention)."""
    with database.session_scope() as s:
        return s.scalar(select(AuditLog.detail).where(AuditLog.action == REPORT_ACTION)
                        .order_by(AuditLog.id.desc()).limit(1)) or None


def _set(s: DB, model, ids: list[int], **values) -> int:
    return s.execute(update(model).where(model.id.in_(ids)).values(**values)).rowcount


def _raw_text(work: _Batches, type_id: int, cutoff: datetime) -> tuple[int, int]:
    """Participant turns of this type's interviews older than ``cutoff`` keep their redacted
    copy only; so do the notes the planner kept of them (the interview's coverage)."""
    touched = 0

    def ids(s: DB, after: int, limit: int) -> list[int]:
        return list(s.scalars(
            select(Turn.id).join(Interview, Interview.id == Turn.interview_id)
            .join(Session, Session.id == Interview.session_id)
            .where(Turn.id > after, Session.session_type_id == type_id,
                   Turn.role == "participant",
                   func.coalesce(Interview.ended_at, Turn.created_at) < cutoff,
                   Turn.text != func.coalesce(Turn.redacted_text, ""))
            .order_by(Turn.id).limit(limit)))

    def apply(s: DB, batch: list[int]) -> int:
        nonlocal touched
        changed = s.execute(update(Turn).where(Turn.id.in_(batch),
                                               Turn.redacted_text.is_not(None))
                            .values(text=Turn.redacted_text)).rowcount
        # a turn without a redacted copy (none is written so today) gets one now
        unredacted = s.execute(select(Turn.id, Turn.text).where(
            Turn.id.in_(batch), Turn.redacted_text.is_(None))).all()
        if unredacted:
            s.execute(update(Turn), [{"id": i, "text": privacy.redact(t),
                                      "redacted_text": privacy.redact(t)}
                                     for i, t in unredacted])
        of = select(Turn.interview_id).where(Turn.id.in_(batch)).distinct()
        covered = []  # plain rows: an Interview object would load its invite, person …
        for interview_id, coverage in s.execute(select(Interview.id, Interview.coverage)
                                                .where(Interview.id.in_(of))):
            redacted = _redacted_coverage(coverage or {})
            if redacted != coverage:
                covered.append({"id": interview_id, "coverage": redacted})
        if covered:
            s.execute(update(Interview), covered)
        touched += len(covered)
        return changed + len(unredacted)

    return work.walk("turns", ids, apply), touched


def _redacted_coverage(coverage: dict[str, Any]) -> dict[str, Any]:
    """The planner's notes of answers, and the questions asked back, as redacted text."""
    out = dict(coverage)
    if "notes" in out:
        out["notes"] = {k: [privacy.redact(n) for n in v] for k, v in out["notes"].items()}
    if "open_questions" in out:
        out["open_questions"] = [privacy.redact(q) for q in out["open_questions"]]
    return out


def _redact_items(s: DB, ids: list[int]) -> int:
    changed = 0
    for item in s.scalars(select(AgendaItem).where(AgendaItem.id.in_(ids))):
        redacted = privacy.redact(item.text)
        if redacted != item.text:
            item.text, changed = redacted, changed + 1
    return changed


# ---- erasure -----------------------------------------------------------------------------

def open_interviews(s: DB, person_id: int) -> list[int]:
    """The person's interviews still under way: an erasure holds their locks
    (``core.engine.serialised``), so no message of theirs is being handled meanwhile."""
    return list(s.scalars(select(Interview.id).where(Interview.person_id == person_id,
                                                     Interview.state.not_in(ENDED))
                          .order_by(Interview.id)))


def erase_person(s: DB, person_id: int, now: datetime | None = None) -> dict[str, int] | None:
    """Erase a person (GDPR): their identity, and every message they wrote or that was
    written to them, in every session and pair. Returns counts per kind, or None when there
    is no such person (or they were erased already).

    Kept, without a word of text: the person row as a tombstone (``erased_at``; no name,
    address or chat id, so a re-import of their email makes a fresh person), their
    interviews as anonymous shells (state, figures, analytics) and their turns' roles,
    topics and sentiment, rollout and pair rows (counts). Gone: demographics, phone-number
    and Teams-contact rows, manager links and references to them, turn text (raw and
    redacted), the planner's notes, inbox and outbox content to and from them, their agenda
    items and private notes, quotes of them in insights, audit details naming them."""
    now = now or utcnow()
    person = s.get(Person, person_id)
    if person is None or person.erased_at is not None:
        return None
    keys = _identifiers(person)
    counts: dict[str, int] = {}

    interviews = list(s.scalars(select(Interview).where(Interview.person_id == person_id)))
    interview_ids = [i.id for i in interviews]
    turn_ids = list(s.scalars(select(Turn.id).where(Turn.interview_id.in_(interview_ids))))
    counts["insight_quotes"] = sum(
        insights.forget(s, i.session_id, i.id, turn_ids) for i in interviews)
    counts["turns"] = s.execute(
        update(Turn).where(Turn.interview_id.in_(interview_ids))
        .values(text="", redacted_text=None, reasoning=None, provider_ids={})).rowcount
    for interview in interviews:
        interview.address, interview.end_reason = {}, ""
        interview.coverage = {k: v for k, v in (interview.coverage or {}).items()
                              if k not in ("notes", "open_questions", "questions")}
        if interview.state not in ENDED:
            interview.state, interview.ended_at = State.ADMIN_ENDED, now
    counts["interviews"] = len(interviews)
    invite_ids = list(s.scalars(select(Invite.id).where(Invite.person_id == person_id)))
    for invite in s.scalars(select(Invite).where(Invite.id.in_(invite_ids))):
        # the link stops working: no token hashes to a random value
        invite.token_hash = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
        invite.status_reason = ""
    s.execute(update(RolloutRecipient).where(RolloutRecipient.person_id == person_id)
              .values(reason=""))

    pairs = list(s.scalars(select(OneOnOne).where(
        or_(OneOnOne.first_id == person_id, OneOnOne.second_id == person_id))))
    pair_ids = [p.id for p in pairs]
    for pair in pairs:  # the pair stays counted, retired, its thread forgotten
        pair.thread, pair.thread_id = {}, None
        if pair.active:
            pair.active, pair.retired_at = False, now
    counts["private_notes"] = s.execute(
        delete(PrivateNote).where(PrivateNote.author_id == person_id)).rowcount
    their_items = select(AgendaItem.id).where(AgendaItem.added_by_id == person_id)
    theirs = or_(OutboundRecord.interview_id.in_(interview_ids),
                 OutboundRecord.invite_id.in_(invite_ids),
                 OutboundRecord.one_on_one_id.in_(pair_ids),
                 OutboundRecord.agenda_item_id.in_(their_items),
                 *_mentions(OutboundRecord.address, keys),
                 *_mentions(OutboundRecord.payload, keys))
    # what was still to be sent to them (or to their pair) will not be
    s.execute(update(OutboundRecord).where(theirs, OutboundRecord.status.in_(UNFINISHED))
              .values(status="failed").execution_options(synchronize_session=False))
    counts["outbound_payloads"] = s.execute(
        update(OutboundRecord).where(theirs)
        .values(payload={}, address={}, last_error="")
        .execution_options(synchronize_session=False)).rowcount
    counts["agenda_items"] = s.execute(
        delete(AgendaItem).where(AgendaItem.added_by_id == person_id)
        .execution_options(synchronize_session=False)).rowcount
    counts["inbound_payloads"] = s.execute(
        update(InboundEvent).where(or_(InboundEvent.interview_id.in_(interview_ids),
                                       *_mentions(InboundEvent.payload, keys)))
        .values(payload={}, error="").execution_options(synchronize_session=False)).rowcount
    about = [("person", [person_id]), ("interview", interview_ids), ("invite", invite_ids),
             ("one_on_one", pair_ids)]
    counts["audit_details"] = s.execute(
        update(AuditLog).where(or_(
            *[(AuditLog.target_type == kind) & AuditLog.target_id.in_(ids)
              for kind, ids in about],
            *_mentions(AuditLog.detail, [*keys, person.name] if " " in person.name.strip()
                       else keys)))
        .values(detail={}).execution_options(synchronize_session=False)).rowcount

    counts["demographics"] = s.execute(
        delete(PersonAttribute).where(PersonAttribute.person_id == person_id)).rowcount
    # others' references to them: a manager link, the manager as an import named them, a
    # demographic holding their email (Manager Email)
    refs = [k.lower() for k in (person.email, person.employee_id) if k]
    counts["manager_links"] = s.execute(
        update(Person).where(or_(Person.manager_id == person_id,
                                 func.lower(Person.manager_ref).in_(refs)))
        .values(manager_id=None, manager_ref=None)
        .execution_options(synchronize_session=False)).rowcount
    if person.email:
        counts["demographics"] += s.execute(
            delete(PersonAttribute)
            .where(func.lower(PersonAttribute.value) == person.email.lower())
            .execution_options(synchronize_session=False)).rowcount
    counts["phone_numbers"] = phones.forget(s, person.phone) if person.phone else 0
    contact = [TeamsContact.person_id == person_id]
    if person.teams_user_id:
        contact.append(TeamsContact.user_id == person.teams_user_id)
    if person.aad_object_id:
        contact.append(TeamsContact.aad_object_id == person.aad_object_id)
    if person.email:
        contact.append(func.lower(TeamsContact.email) == person.email.lower())
    counts["teams_contacts"] = s.execute(
        delete(TeamsContact).where(or_(*contact))
        .execution_options(synchronize_session=False)).rowcount

    counts["redis_keys"] = ratelimit.forget(keys) + jobs.forget(keys)
    # webhook events that named them (a named session's interviews): not sent any more,
    # and emptied; export files, which may hold their transcripts, dropped
    erased = WebhookDelivery.interview_id.in_(interview_ids)
    s.execute(update(WebhookDelivery).where(erased, WebhookDelivery.status.in_(
        ("pending", "sending"))).values(status="failed", last_error="the person was erased")
        .execution_options(synchronize_session=False))
    counts["webhook_payloads"] = s.execute(
        update(WebhookDelivery).where(erased).values(payload={}, last_response="")
        .execution_options(synchronize_session=False)).rowcount
    counts["export_files"] = exports.forget(s)

    person.name, person.email, person.phone = "", None, None
    person.slack_user_id = person.slack_team_id = person.teams_user_id = None
    person.aad_object_id = person.employee_id = person.manager_ref = None
    person.manager_id, person.timezone, person.active = None, "UTC", False
    person.erased_at = now
    s.expire(person, ["attributes"])
    s.flush()
    return counts


def _identifiers(person: Person) -> list[str]:
    """What of a person a provider payload carries that is theirs alone: addresses and chat
    ids (not a name or an employee number, which other text may contain by chance)."""
    keys = [person.email, person.phone, person.slack_user_id, person.teams_user_id,
            person.aad_object_id]
    return [k for k in keys if k and len(k.strip()) >= 3]


def _mentions(column, keys: Iterable[str]) -> list[Any]:
    """Conditions: the JSON column's text contains one of ``keys`` (any case). A scan, but
    erasure is rare and the payloads older than RETENTION_PAYLOAD_DAYS are empty."""
    text = func.lower(cast(column, Text))
    return [text.contains(k.lower(), autoescape=True) for k in keys]
