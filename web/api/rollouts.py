"""Rollouts: invite an audience to a session at each person's local time, follow its
progress, pause, resume or cancel it (core/rollouts.py does the work)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import select

import channels
from core import db, rollouts
from core.models import Person, Rollout, RolloutRecipient, Session
from web.api import (
    audit,
    body,
    bp,
    get_or_404,
    iso,
    next_link,
    page,
    paging,
    principal,
    unprocessable,
)
from web.errors import ApiError
from web.schemas import MAX_ID, RolloutCreate

R = RolloutRecipient
FIRST_PAGE = 50


def check_channels(names: list[str], field: str) -> None:
    """Every channel configured on this server (400 naming it otherwise); a web link goes
    out by email, so "web" needs the email channel."""
    available = channels.configured(current_app.config["SETTINGS"])
    for name in names:
        if name not in available:
            raise ApiError(400, "bad_request", f"{field}: {name!r} is not configured "
                           f"(available: {', '.join(sorted(available))})")
    if "web" in names and "email" not in available:
        raise unprocessable(f"{field}: 'web' links go out by email, and the email channel "
                            "is not configured")
    if len(set(names)) != len(names):
        raise ApiError(400, "bad_request", f"{field}: a channel is listed twice")


def rollout_json(s, r: Rollout) -> dict[str, Any]:
    found = rollouts.counts(s, r.id)
    total = sum(found.values())
    percent = round(100.0 * (total - found["pending"]) / total, 1) if total else 0.0
    return {
        "id": r.id, "session_id": r.session_id, "state": r.state, "audience": r.audience,
        "channels": r.channels, "send_at": iso(r.send_at), "local_time": r.local_time,
        "reminders": r.reminders, "respect_quiet_hours": r.respect_quiet_hours,
        "quiet_hours": r.quiet_hours, "trigger_key": r.trigger_key, "counts": found,
        "total": total, "percent": percent, "created_by": r.created_by,
        "created_at": iso(r.created_at), "started_at": iso(r.started_at),
        "finished_at": iso(r.finished_at)}


def recipients_page(s, rollout_id: int, status: str | None, limit: int,
                    cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of recipients in id order, each with its progress (as counted). In an
    aggregated session a person's progress stops at their invite (sent, delivered, failed
    …): who took part is not said one person at a time, only counted (``counts``)."""
    session = s.scalar(select(Session).join(Rollout, Rollout.session_id == Session.id)
                       .where(Rollout.id == rollout_id))
    aggregated = session is not None and session.anonymity == "aggregated"
    if aggregated and status == "responded":
        raise ApiError(400, "bad_request", "status: an aggregated session does not list who "
                       "responded, only how many (counts)")
    progress = rollouts.progress(answers=not aggregated)
    stmt = rollouts.progress_from(select(R, Person.name, progress.label("p"))).join(
        Person, Person.id == R.person_id).where(R.rollout_id == rollout_id)
    if status:
        stmt = stmt.where(progress == status)
    if cursor is not None:
        stmt = stmt.where(R.id > min(int(cursor, 16), MAX_ID))  # larger fits no id column
    rows = s.execute(stmt.order_by(R.id).limit(limit + 1)).all()
    more = len(rows) > limit
    # an aggregated session's invite ids stay apart from names: its invites list says
    # which invite was opened
    out = [{"id": r.id, "person_id": r.person_id, "name": name, "channel": r.channel,
            "status": p, "reason": r.reason, "due_at": iso(r.due_at), "sent_at": iso(r.sent_at),
            **({} if aggregated else {"invite_id": r.invite_id}),
            "reminders_sent": r.reminders_sent, "next_reminder_at": iso(r.next_reminder_at)}
           for r, name, p in rows[:limit]]
    return out, (format(rows[limit - 1][0].id, "x") if more else None)


@bp.post("/sessions/<int:session_id>/rollouts")
def create_rollout(session_id: int):
    data = body(RolloutCreate)
    check_channels(data.channels, "channels")
    send_at = data.send_at
    if send_at is not None and not 2000 <= send_at.year <= 2100:  # (datetime overflows)
        raise ApiError(400, "bad_request", "send_at: a time in the years 2000 to 2100")
    if send_at is not None and send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=UTC)
    with db.session_scope() as s:
        session = get_or_404(s, Session, session_id, "session")
        try:
            rollout = rollouts.create(
                s, session, audience=data.audience, channels=data.channels, send_at=send_at,
                local_time=data.local_time,
                reminders=data.reminders.model_dump() if data.reminders else None,
                respect_quiet_hours=data.respect_quiet_hours,
                quiet_hours=data.quiet_hours.model_dump() if data.quiet_hours else None,
                working_days=data.working_days, created_by=principal().label)
        except rollouts.RolloutError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        audit(s, "rollout.create", "rollout", rollout.id, session=session.id)
        out = rollout_json(s, rollout)
        rollout_id = rollout.id
    rollouts.enqueue(rollout_id)
    return jsonify(out), 201


@bp.get("/sessions/<int:session_id>/rollouts")
def list_rollouts(session_id: int):
    with db.session_scope() as s:
        get_or_404(s, Session, session_id, "session")
        rows, next_page = page(s, select(Rollout).where(Rollout.session_id == session_id),
                               newest_first=True)
        return jsonify(rollouts=[rollout_json(s, r) for r in rows], next=next_page)


@bp.get("/rollouts/<int:rollout_id>")
def get_rollout(rollout_id: int):
    """The rollout, its counts, and the first page of its recipients."""
    with db.session_scope() as s:
        rollout = get_or_404(s, Rollout, rollout_id, "rollout")
        out = rollout_json(s, rollout)
        people, cursor = recipients_page(s, rollout_id, None, FIRST_PAGE, None)
        base = f"{request.script_root}/api/v1/rollouts/{rollout_id}/recipients"
        out["recipients"] = people
        out["recipients_next"] = f"{base}?limit={FIRST_PAGE}&cursor={cursor}" if cursor else None
        return jsonify(out)


@bp.get("/rollouts/<int:rollout_id>/recipients")
def list_rollout_recipients(rollout_id: int):
    status = request.args.get("status") or None
    if status is not None and status not in rollouts.COUNTS:
        raise ApiError(400, "bad_request", f"status: one of {', '.join(rollouts.COUNTS)}")
    limit, cursor = paging()
    with db.session_scope() as s:
        get_or_404(s, Rollout, rollout_id, "rollout")
        people, after = recipients_page(s, rollout_id, status, limit, cursor)
        return jsonify(recipients=people, next=next_link(limit, after) if after else None)


def _control(rollout_id: int, action: str):
    with db.session_scope() as s:
        get_or_404(s, Rollout, rollout_id, "rollout")
        rollout = s.scalar(select(Rollout).where(Rollout.id == rollout_id)  # one at a time
                           .with_for_update(of=Rollout)
                           .execution_options(populate_existing=True))
        try:
            getattr(rollouts, action)(s, rollout)
        except rollouts.WrongState as exc:
            raise ApiError(409, "wrong_state", str(exc)) from None
        audit(s, f"rollout.{action}", "rollout", rollout.id)
        s.flush()
        out = rollout_json(s, rollout)
    if action == "resume":
        rollouts.enqueue(rollout_id)
    return jsonify(out)


@bp.post("/rollouts/<int:rollout_id>/pause")
def pause_rollout(rollout_id: int):
    return _control(rollout_id, "pause")


@bp.post("/rollouts/<int:rollout_id>/resume")
def resume_rollout(rollout_id: int):
    return _control(rollout_id, "resume")


@bp.post("/rollouts/<int:rollout_id>/cancel")
def cancel_rollout(rollout_id: int):
    return _control(rollout_id, "cancel")
