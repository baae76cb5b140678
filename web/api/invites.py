"""Invites: one person to one session, by link or on a chat channel."""

from __future__ import annotations

from flask import current_app, jsonify
from sqlalchemy import select

import channels
from bots import interview as interview_bot
from core import db, directory, invites, jobs, phones, rollouts
from core.models import Invite, Person, Session
from web.api import audit, body, bp, get_or_404, iso, page, principal, unprocessable
from web.errors import ApiError
from web.schemas import InviteCreate


@bp.post("/sessions/<int:session_id>/invites")
def create_invite(session_id: int):
    data = body(InviteCreate)
    settings = current_app.config["SETTINGS"]
    available = channels.configured(settings)
    for field, name in [("channel", data.channel)] + [("fallback", c) for c in data.fallback]:
        if name not in available:
            raise ApiError(400, "bad_request", f"{field}: {name!r} is not configured "
                           f"(available: {', '.join(sorted(available))})")
    with db.session_scope() as s:
        session = get_or_404(s, Session, session_id, "session")
        if data.person is not None:
            try:
                # only an owner edits the directory: anyone else's invite names a new
                # person, or an existing one as they are
                person, _ = directory.upsert(s, data.person.model_dump(exclude_unset=True),
                                             update=principal().role == "owner")
            except phones.InvalidPhone as exc:
                raise unprocessable(f"person.phone: {exc}") from None
            except directory.KeyConflict as exc:
                raise unprocessable(f"person.email: {exc}") from None
            except LookupError as exc:
                raise unprocessable(f"person.manager_email: {exc}") from None
        else:
            person = get_or_404(s, Person, data.person_id, "person")
        invite, token = invites.create(s, session, person, channel=data.channel,
                                       ttl_days=settings.invite_ttl_days,
                                       fallback=data.fallback)
        ids = []
        if data.channel != "web":  # a chat channel: the consent message goes out now
            try:
                interview, _ = invites.open_interview(s, invite)
            except invites.Unreachable as exc:
                raise unprocessable(f"person: {exc}") from None
            ids = [r.id for r in interview_bot.start(s, interview)]
        audit(s, "invite.create", "invite", invite.id, person=person.id, channel=data.channel)
        link = f"{settings.effective_public_base_url}/c/{token}"
        # the person receives the link by email
        if data.channel == "web" and "email" in available \
                and (mail := invites.link_mail(s, invite, link)) is not None:
            ids.append(mail.id)
        out = {"id": invite.id, "person_id": person.id, "channel": invite.channel,
               "fallback": invite.fallback, "link": link, "status": invite.status,
               "status_reason": invite.status_reason, "expires_at": iso(invite.expires_at)}
    jobs.enqueue_deliveries(ids)
    return jsonify(out), 201


@bp.get("/sessions/<int:session_id>/invites")
def list_invites(session_id: int):
    """Each invite's status, with the reason when someone could not be reached, and in a
    named session the person's name and email."""
    with db.session_scope() as s:
        session = get_or_404(s, Session, session_id, "session")
        named = session.anonymity == "named"
        rows, next_link = page(s, select(Invite).where(Invite.session_id == session_id))
        return jsonify(invites=[{
            "id": i.id, "channel": i.channel,
            "fallback": i.fallback, "status": i.status,
            "status_reason": i.status_reason, "sent_at": iso(i.sent_at),
            "expires_at": iso(i.expires_at),
            # who, by name, only where answers are named: an aggregated session's list
            # names nobody (tests/integration/test_anonymity.py)
            **({"person_id": i.person_id, "name": i.person.name, "email": i.person.email}
               if named else {}),
        } for i in rows], next=next_link)


@bp.get("/channels")
def list_channels():
    """The channels this server can invite on, in the usual order of preference: one
    person on any of them; a rollout's web links go out by email, so only with it."""
    available = channels.configured(current_app.config["SETTINGS"])
    named = [c for c in rollouts.CHANNELS if c in available]
    return jsonify(invite=named, rollout=[c for c in named
                                          if c != "web" or "email" in available])
