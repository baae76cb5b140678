"""People in the directory: create or update by email, search for autofill, read one, erase one."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import jsonify, request

from core import db, directory, engine, phones, retention
from core.models import Person
from web.api import audit, body, bp, get_or_404, not_found, page, unprocessable
from web.api.interviews import API_WAIT
from web.errors import ApiError
from web.schemas import MAX_ID, PersonIn


def person_json(p: Person) -> dict[str, Any]:
    return {
        "id": p.id, "name": p.name, "email": p.email, "phone": p.phone,
        "slack_user_id": p.slack_user_id, "teams_user_id": p.teams_user_id,
        "aad_object_id": p.aad_object_id,
        "timezone": p.timezone, "manager_id": p.manager_id, "demographics": p.demographics,
    }


@bp.post("/people")
def upsert_person():
    data = body(PersonIn)
    with db.session_scope() as s:
        try:
            person, created = directory.upsert(s, data.model_dump(exclude_unset=True))
        except phones.InvalidPhone as exc:
            raise unprocessable(f"phone: {exc}") from None
        except directory.KeyConflict as exc:
            raise unprocessable(f"email: {exc}") from None
        except LookupError as exc:
            raise unprocessable(f"manager_email: {exc}") from None
        return jsonify(person_json(person)), 201 if created else 200


@bp.get("/people")
def search_people():
    q = request.args.get("q", "")
    if len(q) > 200:
        raise ApiError(400, "bad_request", "q: at most 200 characters")
    with db.session_scope() as s:
        rows, next_link = page(s, directory.matching(q))
        return jsonify(people=[person_json(p) for p in rows], next=next_link)


@bp.get("/people/<int:person_id>")
def get_person(person_id: int):
    with db.session_scope() as s:
        person = get_or_404(s, Person, person_id, "person")
        if person.erased_at is not None:
            raise not_found("person", person_id)
        return jsonify(person_json(person))


@bp.delete("/people/<int:person_id>")
def erase_person(person_id: int):
    """GDPR erasure (core.retention.erase_person): 200 with what was removed; a person
    already erased is as unknown as one who never was (404)."""
    if not 0 < person_id <= MAX_ID:
        raise not_found("person", person_id)
    with db.session_scope() as s:
        open_ids = retention.open_interviews(s, person_id)
    with contextlib.ExitStack() as held:  # no message of theirs is being handled meanwhile
        for interview_id in open_ids:
            held.enter_context(engine.serialised(interview_id, wait=API_WAIT))
        with db.session_scope() as s:
            if set(retention.open_interviews(s, person_id)) - set(open_ids):
                # an interview of theirs opened while we took the locks: not held
                raise ApiError(409, "busy", "a conversation with this person started just "
                               "now; try again in a moment")
            removed = retention.erase_person(s, person_id)
            if removed is None:
                raise not_found("person", person_id)
            # counts only: the audit log must not hold what was erased
            audit(s, "person.erase", "person", person_id, **removed)
    return jsonify(id=person_id, erased=True, removed=removed)
