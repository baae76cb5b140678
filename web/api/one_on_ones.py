"""1-on-1s and assigned topics: the pairs and their agendas as the threads show them (never a
private note), Meet with Anyone, HR's assigned topics and the usage report (core/one_on_ones)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import or_, select

from core import db, jobs
from core import one_on_ones as pairs_core
from core.models import AssignedTopic, OneOnOne, Person
from core.one_on_ones import topics, usage
from web.api import audit, body, bp, get_or_404, page, unprocessable
from web.errors import ApiError
from web.schemas import (
    MAX_ID,
    AgendaItemCreate,
    AssignedTopicCreate,
    AssignedTopicPatch,
    AssignedTopicPreview,
    OneOnOneCreate,
)


def _when(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if not 2000 <= value.year <= 2100:
        raise unprocessable(f"{field}: a time in the years 2000 to 2100")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _deliver(records: list[Any], queue: str = jobs.INTERACTIVE) -> None:
    ids = [r if isinstance(r, int) else r.id for r in records]
    jobs.enqueue_deliveries(ids, queue_name=queue)


# ---- pairs ----------------------------------------------------------------------------------

@bp.get("/one-on-ones")
def list_one_on_ones():
    person = request.args.get("person")
    stmt = select(OneOnOne)
    if person is not None:
        if not person.isascii() or not person.isdigit() or not 0 < int(person) <= MAX_ID:
            raise ApiError(400, "bad_request", "person: a person id")
        stmt = stmt.where(or_(OneOnOne.first_id == int(person),
                              OneOnOne.second_id == int(person)))
    with db.session_scope() as s:
        rows, next_link = page(s, stmt)
        return jsonify(one_on_ones=[pairs_core.describe(s, p) for p in rows], next=next_link)


@bp.post("/one-on-ones")
def create_one_on_one():
    """Meet with Anyone (or a report and their manager: their reporting pair)."""
    data = body(OneOnOneCreate)
    with db.session_scope() as s:
        a = get_or_404(s, Person, data.people[0], "person")
        b = get_or_404(s, Person, data.people[1], "person")
        try:
            pair, created = pairs_core.open_pair(s, a, b)
        except pairs_core.PairError as exc:
            raise unprocessable(str(exc)) from None
        records = pairs_core.first_message(s, pair) if created else []
        audit(s, "one_on_one.create", "one_on_one", pair.id)
        out = pairs_core.describe(s, pair, meetings=True)
    _deliver(records)
    return jsonify(out), 201 if created else 200


@bp.get("/one-on-ones/<int:pair_id>")
def get_one_on_one(pair_id: int):
    with db.session_scope() as s:
        pair = get_or_404(s, OneOnOne, pair_id, "one-on-one")
        return jsonify(pairs_core.describe(s, pair, meetings=True))


@bp.post("/one-on-ones/<int:pair_id>/agenda")
def add_agenda_item(pair_id: int):
    data = body(AgendaItemCreate)
    with db.session_scope() as s:
        pair = get_or_404(s, OneOnOne, pair_id, "one-on-one")
        person = get_or_404(s, Person, data.added_by, "person")
        try:
            item, records = pairs_core.add_item(s, pair, data.text, person)
        except pairs_core.NotInPair as exc:
            raise unprocessable(f"added_by: {exc}") from None
        except pairs_core.PairError as exc:
            if str(exc).startswith("text:"):
                raise unprocessable(str(exc)) from None
            raise ApiError(409, "wrong_state", str(exc)) from None
        out = pairs_core.describe_item(s, item)
    _deliver(records)
    return jsonify(out), 201


# ---- usage ----------------------------------------------------------------------------------

@bp.get("/one-on-ones/usage")
def one_on_one_usage():
    days = request.args.get("days", "30")
    if days not in ("7", "30"):
        raise ApiError(400, "bad_request", "days: 7 or 30")
    department = request.args.get("department") or None
    if department is not None and len(department) > 200:
        raise ApiError(400, "bad_request", "department: at most 200 characters")
    threshold = current_app.config["SETTINGS"].report_group_minimum
    with db.session_scope() as s:
        try:
            return jsonify(usage.report(s, days=int(days), department=department,
                                        threshold=threshold))
        except ValueError as exc:
            raise unprocessable(str(exc)) from None


# ---- assigned topics ------------------------------------------------------------------------

@bp.post("/assigned-topics/preview")
def preview_assigned_topic():
    data = body(AssignedTopicPreview)
    with db.session_scope() as s:
        try:
            return jsonify(topics.preview(s, data.audience.model_dump()))
        except pairs_core.PairError as exc:
            raise unprocessable(str(exc)) from None


@bp.post("/assigned-topics")
def create_assigned_topic():
    data = body(AssignedTopicCreate)
    with db.session_scope() as s:
        try:
            topic = topics.create(
                s, title=data.title, note=data.note, annotation=data.annotation,
                audience=data.audience.model_dump(), assigned_by=data.assigned_by,
                send_at=_when(data.send_at, "send_at"), local_time=data.local_time,
                respect_quiet_hours=data.respect_quiet_hours)
        except pairs_core.PairError as exc:
            raise unprocessable(str(exc)) from None
        audit(s, "assigned_topic.create", "assigned_topic", topic.id)
        s.flush()
        out = topics.describe(s, topic)
    topics.launched(topic)
    return jsonify(out), 201


@bp.get("/assigned-topics")
def list_assigned_topics():
    with db.session_scope() as s:
        rows, next_link = page(s, select(AssignedTopic), newest_first=True)
        return jsonify(assigned_topics=[topics.describe(s, t) for t in rows], next=next_link)


@bp.get("/assigned-topics/<int:topic_id>")
def get_assigned_topic(topic_id: int):
    with db.session_scope() as s:
        return jsonify(topics.describe(s, get_or_404(s, AssignedTopic, topic_id,
                                                     "assigned topic")))


def _locked_topic(s, topic_id: int) -> AssignedTopic:
    get_or_404(s, AssignedTopic, topic_id, "assigned topic")
    return s.scalar(select(AssignedTopic).where(AssignedTopic.id == topic_id)
                    .with_for_update(of=AssignedTopic)
                    .execution_options(populate_existing=True))


@bp.patch("/assigned-topics/<int:topic_id>")
def edit_assigned_topic(topic_id: int):
    data = body(AssignedTopicPatch)
    changes = data.model_dump(exclude_unset=True)
    for name in ("title", "note", "annotation", "audience", "respect_quiet_hours"):
        if changes.get(name, "") is None:  # null: left as it is (send_at null: now)
            del changes[name]
    if "audience" in changes:
        changes["audience"] = data.audience.model_dump()
    if "send_at" in changes:
        changes["send_at"] = _when(data.send_at, "send_at")
    with db.session_scope() as s:
        topic = _locked_topic(s, topic_id)
        try:
            reworded = topics.edit(s, topic, changes)
        except topics.WrongState as exc:
            raise ApiError(409, "wrong_state", str(exc)) from None
        except pairs_core.PairError as exc:
            raise unprocessable(str(exc)) from None
        audit(s, "assigned_topic.edit", "assigned_topic", topic.id, fields=sorted(changes))
        s.flush()
        out = topics.describe(s, topic)
    if reworded:
        topics.enqueue_updates(topic)
    return jsonify(out)


@bp.post("/assigned-topics/<int:topic_id>/send")
def send_assigned_topic(topic_id: int):
    with db.session_scope() as s:
        topic = _locked_topic(s, topic_id)
        try:
            topics.send(s, topic)
        except topics.WrongState as exc:
            raise ApiError(409, "wrong_state", str(exc)) from None
        audit(s, "assigned_topic.send", "assigned_topic", topic.id)
        s.flush()
        out = topics.describe(s, topic)
    topics.launched(topic)
    return jsonify(out)


@bp.post("/assigned-topics/<int:topic_id>/withdraw")
def withdraw_assigned_topic(topic_id: int):
    with db.session_scope() as s:
        topic = _locked_topic(s, topic_id)
        try:
            topics.withdraw(s, topic)
        except topics.WrongState as exc:
            raise ApiError(409, "wrong_state", str(exc)) from None
        audit(s, "assigned_topic.withdraw", "assigned_topic", topic.id)
        s.flush()
        out = topics.describe(s, topic)
    topics.enqueue_updates(topic)
    return jsonify(out)
