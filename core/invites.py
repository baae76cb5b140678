"""Invites and their secret links: the token is shown once and stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from core import sessions
from core.interviewer import prompts
from core.lifecycle import TERMINAL
from core.messages import Address, Outbound
from core.models import Interview, Invite, OutboundRecord, Person, Session, utcnow


class LinkError(Exception):
    """An unknown (404) or expired (410) link."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    db: DB, session: Session, person: Person, *, channel: str, ttl_days: int,
    fallback: list[str] | tuple[str, ...] = (),
) -> tuple[Invite, str]:
    """A new invite and its raw token (only the hash is kept); it expires ``ttl_days`` on.
    ``fallback`` names the channels to try, in order, if ``channel`` cannot reach them."""
    token = secrets.token_urlsafe(24)
    now = utcnow()
    invite = Invite(
        session=session, person=person, channel=channel, token_hash=hash_token(token),
        fallback=[c for c in dict.fromkeys(fallback) if c != channel],
        status="sent" if channel == "web" else "created",
        sent_at=now, expires_at=now + timedelta(days=ttl_days),
    )
    db.add(invite)
    db.flush()
    return invite, token


def by_token(db: DB, token: str, *, ttl_days: int) -> Invite:
    """The invite behind a link. Past its expiry a link still serves an interview under
    way, but neither starts one nor shows a finished one's transcript any longer."""
    invite = db.scalar(select(Invite).where(Invite.token_hash == hash_token(token)))
    if invite is None:
        raise LinkError(
            404, "We couldn't find this link",
            "Check that you copied the whole link, or ask HR to send you a new one.",
        )
    if invite.expires_at and invite.expires_at <= utcnow():
        interview = current_interview(db, invite)
        if interview is None:
            days = f"{ttl_days} day{'s' if ttl_days != 1 else ''}"
            raise LinkError(
                410, "This link has expired",
                f"Invitation links are valid for {days}. Please ask HR to send you a new one.",
            )
        if interview.state in TERMINAL:
            raise LinkError(
                410, "This conversation has ended",
                "Thank you for taking part. This link has expired, so the conversation is "
                "no longer shown here.",
            )
    return invite


def web_address(invite: Invite) -> Address:
    return Address(channel="web", key=f"invite:{invite.id}")


def current_interview(db: DB, invite: Invite) -> Interview | None:
    """The newest interview on this invite (a restart opens a new one)."""
    return db.scalar(
        select(Interview).where(Interview.invite_id == invite.id).order_by(Interview.id.desc())
    )


def channel_address(invite: Invite) -> Address:
    """Where the invite's first message goes; a chat channel resolves the rest on sending."""
    person = invite.person
    if invite.channel == "web":
        return web_address(invite)
    if invite.channel == "slack":  # a Slack id goes with its workspace; else find them
        data = {"team": person.slack_team_id} if person.slack_team_id else {}
        if person.email and not (person.slack_user_id and person.slack_team_id):
            data["email"] = person.email
        return Address("slack", person.slack_user_id or "", data)
    if invite.channel == "teams" and (person.teams_user_id or person.aad_object_id
                                      or person.email):  # found by channels.teams.resolve
        data = {k: v for k, v in (("aad", person.aad_object_id), ("email", person.email)) if v}
        return Address("teams", person.teams_user_id or "", data)
    if invite.channel == "sms" and person.phone:
        return Address("sms", person.phone)
    if invite.channel == "email" and person.email:
        return Address("email", person.email)
    raise Unreachable(f"{person.name or 'this person'} has no {invite.channel} address")


class Unreachable(ValueError):
    """The person has nothing we could reach them at on the invite's channel."""


def open_interview(db: DB, invite: Invite, *, new: bool = False) -> tuple[Interview, bool]:
    """The invite's current interview, creating it on first contact. Returns (it, created).
    Raises Unreachable when neither the invite's channel nor a fallback has an address.
    ``new``: the caller made the invite in this transaction, so it has none yet (a rollout
    opens thousands: the lookup would be a query each)."""
    interview = None if new else current_interview(db, invite)
    if interview is not None:
        return interview, False
    interview = Interview(invite=invite, session=invite.session, person=invite.person)
    if _reach(invite, interview, [], [invite.channel, *invite.fallback]) is None:
        db.expunge(interview)
        raise Unreachable(invite.status_reason)
    db.add(interview)
    if invite.channel == "web":
        invite.status = "opened"
    db.flush()
    return interview, True


def fall_back(db: DB, interview: Interview, reason: str) -> Address | None:
    """The invite's channel could not reach the person before they ever answered: move the
    invite and its interview to the next fallback channel they have an address on, and say
    so in the invite's status. Returns the new address, or None when none is left (the
    invite is then ``unreachable``, with every reason)."""
    invite = interview.invite
    return _reach(invite, interview, [f"{invite.channel}: {reason}"], invite.fallback)


def _reach(invite: Invite, interview: Interview, reasons: list[str],
           candidates: list[str]) -> Address | None:
    """Point the interview at the first of ``candidates`` the person has an address on,
    keeping the rest as the invite's fallback; None, and the invite ``unreachable`` with
    every reason, when there is none."""
    for i, channel in enumerate(candidates):
        invite.channel, invite.fallback = channel, list(candidates[i + 1:])
        try:
            address = channel_address(invite)
        except Unreachable as exc:
            reasons.append(f"{channel}: {exc}")
            continue
        if reasons:
            invite.status = "created"
            invite.status_reason = f"{'; '.join(reasons)}; trying {channel}"[:2000]
        interview.channel, interview.address = channel, address.to_dict()
        return address
    invite.fallback, invite.status = [], "unreachable"
    invite.status_reason = "; ".join(reasons)[:2000]
    return None


def link_mail(db: DB, invite: Invite, link: str, *, queue: str = "interactive",
              ) -> OutboundRecord | None:
    """Queue the email that carries a web invite's link (subject and words in the session's
    voice, the expiry date, who sees the answers); None when the person has no email. In
    the transaction that made the link: the raw token exists nowhere else."""
    person, session = invite.person, invite.session
    if not person.email:
        return None
    expires = invite.expires_at or utcnow()
    note = prompts.anonymity_note(session.anonymity,
                                  sessions.settings_of(session).anonymity_threshold)
    text = prompts.link_mail(_first_name(person), session.name,
                             session.session_type.purpose or "", link, note, _date(expires))
    record = OutboundRecord(
        channel="email",
        address=Address("email", person.email,
                        {"subject": prompts.link_mail_subject(session.name),
                         "invite": invite.id}).to_dict(),
        payload=Outbound(text, role="system").to_dict(), invite_id=invite.id, queue=queue)
    db.add(record)
    db.flush()
    return record


def link_reminder(db: DB, invite: Invite, *, queue: str = "bulk") -> OutboundRecord | None:
    """A reminder, by email, of a web invite's link (the link itself is not kept, so it
    points to the first email); marked auto-generated."""
    person, session = invite.person, invite.session
    if not person.email:
        return None
    sent = invite.sent_at or invite.created_at or utcnow()
    text = prompts.link_reminder(_first_name(person), session.name, _date(sent),
                                 _date(invite.expires_at or utcnow()))
    record = OutboundRecord(
        channel="email",
        address=Address("email", person.email,
                        {"subject": prompts.reminder_subject(session.name),
                         "invite": invite.id, "reminder": True}).to_dict(),
        payload=Outbound(text, role="system").to_dict(), invite_id=invite.id, queue=queue)
    db.add(record)
    db.flush()
    return record


def _first_name(person: Person) -> str:
    return (person.name or "").split(" ")[0] or "there"


def _date(moment: datetime) -> str:
    return f"{moment:%A} {moment.day} {moment:%B %Y}"
