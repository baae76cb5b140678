"""Test data through the same API HR uses (STYLE.md 13), plus direct DB helpers."""

from __future__ import annotations

from typing import Any


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
