"""Test data through the same API HR uses (STYLE.md 13), plus direct DB helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core import privacy


class ApiClient:
    def __init__(self, client, token: str):
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, path: str, json: Any = None, **kw):
        return self.client.open(f"/api/v1{path}", method=method, json=json,
                                headers=self.headers, **kw)

    def get(self, path, **kw):
        return self._call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self._call("POST", path, json, **kw)

    def patch(self, path, json=None, **kw):
        return self._call("PATCH", path, json, **kw)

    def delete(self, path, **kw):
        return self._call("DELETE", path, **kw)


def make_session(api: ApiClient, slug: str = "stay-interview", **extra) -> dict:
    resp = api.post("/sessions", {"session_type": slug, "name": f"{slug} test", **extra})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def invite(api: ApiClient, session_id: int, email: str = "ada@example.com",
           name: str = "Ada Lovelace") -> dict:
    resp = api.post(f"/sessions/{session_id}/invites",
                    {"person": {"name": name, "email": email}, "channel": "web"})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[-1]


def completed_interviews(session_id: int, interviews: list[dict], *,
                         start: datetime | None = None) -> list[int]:
    """Completed interviews written straight to the database (test data, STYLE.md 13), for
    figures over many interviews: each ``{"name", "email", "answers": [(topic, text,
    asked_back)], "demographics": {...}}``; a question turn before each answer, sentiment
    scored as the engine scores it. Returns the interview ids, in the order they ended."""
    from core import db, directory, invites
    from core.models import Interview, Session, Turn
    from core.sentiment import score

    start = start or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    ids = []
    with db.session_scope() as s:
        session = s.get(Session, session_id)
        for n, spec in enumerate(interviews):
            person, _ = directory.upsert(s, {"name": spec["name"], "email": spec["email"],
                                             "demographics": spec.get("demographics") or {}})
            invite, _ = invites.create(s, session, person, channel="web", ttl_days=7)
            began = start + timedelta(minutes=30 * n)
            interview = Interview(invite=invite, session=session, person=person,
                                  state="completed", started_at=began,
                                  ended_at=began + timedelta(minutes=12),
                                  coverage={"open_questions": [
                                      text for _, text, asked in spec["answers"] if asked]})
            s.add(interview)
            s.flush()
            seq = 1
            for topic, text, _asked in spec["answers"]:
                s.add(Turn(interview_id=interview.id, seq=seq, role="interviewer",
                           text=f"Tell me about {topic}.", topic=topic,
                           created_at=began + timedelta(seconds=seq)))
                s.add(Turn(interview_id=interview.id, seq=seq + 1, role="participant",
                           text=text, redacted_text=privacy.redact(text), topic=topic,
                           sentiment=score(text), created_at=began + timedelta(seconds=seq + 1)))
                seq += 2
            ids.append(interview.id)
    return ids
