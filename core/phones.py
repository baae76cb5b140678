"""Phone numbers: one spelling (E.164) and the SMS ledger of who may be texted.

Every number is kept and compared as E.164 (``+15550100123``), so the person HR imported
as "(555) 010-0123" is the sender Twilio reports. An opt-out is law, not a preference:
a number that said STOP (or that Twilio refuses with error 21610) gets nothing more from
any interview or rollout until it opts in again.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session as DB

from core.config import get_settings
from core.models import Interview, Person, PhoneNumber, utcnow


class InvalidPhone(ValueError):
    """Not a phone number we could text."""


def normalise(raw: str, region: str = "US") -> str:
    """``raw`` as E.164; numbers without a +country code are read in ``region``."""
    try:
        parsed = phonenumbers.parse(raw.strip(), region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{raw!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhone(f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _key(number: str) -> str:
    """The ledger's key: ``number`` as E.164 (a person's phone written before E.164 was the
    rule, or by hand), or as it is when it does not parse."""
    try:
        return normalise(number, get_settings().sms_default_region)
    except InvalidPhone:
        return number


def _row(db: DB, number: str) -> PhoneNumber:
    number = _key(number)
    row = db.get(PhoneNumber, number, with_for_update=True)
    if row is None:
        row = PhoneNumber(number=number, opted_out=False, reason="", changed_at=utcnow())
        db.add(row)
        db.flush()
    return row


def _erased_key(number: str) -> str:
    """What the ledger keeps of an erased person's opted-out number: a keyed hash, which
    matches the number when it comes again and says nothing of it otherwise (a new
    SECRET_KEY forgets it, as it ends every link)."""
    digest = hmac.new(get_settings().secret_key.encode(), _key(number).encode(),
                      hashlib.sha256).hexdigest()
    return "h:" + digest[:30]


def opted_out(db: DB, number: str) -> bool:
    if not number:
        return False
    row = db.get(PhoneNumber, _key(number)) or db.get(PhoneNumber, _erased_key(number))
    return bool(row and row.opted_out)


def forget(db: DB, number: str) -> int:
    """Erasure: the number leaves the ledger; an opt-out stays, as its keyed hash (the law
    outlives the person's record: a re-import must not text a number that said STOP)."""
    row = db.get(PhoneNumber, _key(number))
    if row is None:
        return 0
    if row.opted_out:
        db.merge(PhoneNumber(number=_erased_key(number), opted_out=True,
                             reason="opted out (number erased)", changed_at=row.changed_at))
    db.delete(row)
    db.flush()
    return 1


def may_text(db: DB, channel: str, address: dict) -> bool:
    """False for an SMS address whose number opted out; True for anything else."""
    return channel != "sms" or not opted_out(db, address.get("key") or "")


def opt_out(db: DB, number: str, reason: str) -> None:
    """Record the opt-out (STOP, or the provider's refusal); idempotent."""
    row = _row(db, number)
    if not row.opted_out:
        row.opted_out, row.reason, row.changed_at = True, reason[:200], utcnow()


def opt_in(db: DB, number: str, reason: str) -> bool:
    """Record an opt-in (START, UNSTOP, YES); True when the number was opted out."""
    row = _row(db, number)
    was = row.opted_out
    if was:
        row.opted_out, row.reason, row.changed_at = False, reason[:200], utcnow()
    erased = db.execute(delete(PhoneNumber).where(
        PhoneNumber.number == _erased_key(number))).rowcount
    return was or bool(erased)


def first_stranger_reply(db: DB, number: str) -> bool:
    """True once per number: a stranger gets one polite reply, then silence."""
    number = _row(db, number).number
    return bool(db.execute(
        update(PhoneNumber)
        .where(PhoneNumber.number == number, PhoneNumber.stranger_replied_at.is_(None))
        .values(stranger_replied_at=utcnow())
    ).rowcount)


def interviews_of(db: DB, number: str, states) -> list[int]:
    """Ids of the interviews, in ``states``, of everyone known at this number."""
    return list(db.scalars(
        select(Interview.id).join(Person, Interview.person_id == Person.id)
        .where(Person.phone == number, Interview.state.in_([str(s) for s in states]))
        .order_by(Interview.id)))
