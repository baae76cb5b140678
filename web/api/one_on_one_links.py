"""The link to a person's 1-on-1 page (web/one_on_ones.py), for HR to share with someone no
chat tool reaches. HR holds it, so it never shows the person's private notes (their own
link, from Slack's ``/parley page``, does). Each call signs a fresh link; every link stays
valid for its own 90 days (rotating SECRET_KEY ends them all)."""

from __future__ import annotations

from flask import jsonify

from core import db
from core.models import Person
from web import one_on_ones as pages
from web.api import audit, bp, get_or_404


@bp.get("/people/<int:person_id>/one-on-ones-link")
def one_on_ones_link(person_id: int):
    with db.session_scope() as s:
        person = get_or_404(s, Person, person_id, "person")
        url, expires_at = pages.link(person.id)
        audit(s, "one_on_ones_link.create", "person", person.id)
    return jsonify(url=url, expires_at=expires_at.isoformat())
