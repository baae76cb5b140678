"""Roles are enforced on every route (issue 14, item 2): the whole URL map × every role,
checked against this file's own table — a route added without an entry here fails — and
members see only their own and shared sessions, analysts never one person's answers."""

from __future__ import annotations

import re

import pytest

from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of, user_client

OWN, M, V, A = "owner", "member", "viewer", "analyst"
ROLES = (OWN, M, V, A)
EVERYONE, READERS, WRITERS, OWNERS = {OWN, M, V, A}, {OWN, M, V}, {OWN, M}, {OWN}

# what each API endpoint lets in; written out here, apart from web/api/access.py, so that a
# change to the policy is a change to this table too
EXPECTED: dict[str, set[str]] = {
    "api.healthz": set(), "api.openapi": set(), "api.login": set(),
    "api.me": EVERYONE, "api.logout": EVERYONE, "api.list_tokens": EVERYONE,
    "api.create_token": EVERYONE, "api.revoke_token": EVERYONE,
    "api.list_users": OWNERS, "api.create_user": OWNERS, "api.patch_user": OWNERS,
    "api.delete_user": OWNERS,
    "api.list_session_types": EVERYONE, "api.get_session_type": EVERYONE,
    "api.patch_session_type": WRITERS, "api.generate_session_type": WRITERS,
    "api.list_sessions": EVERYONE, "api.get_session": EVERYONE,
    "api.create_session": WRITERS, "api.patch_session": WRITERS, "api.clone_session": WRITERS,
    "api.share_session": WRITERS, "api.session_analytics": EVERYONE,
    "api.list_interviews": EVERYONE, "api.get_interview": READERS,
    "api.find_interviews": READERS,
    "api.end_interview": WRITERS, "api.restart_interview": WRITERS,
    "api.delete_interview": WRITERS,
    "api.list_invites": READERS, "api.create_invite": WRITERS, "api.list_channels": READERS,
    "api.list_rollouts": READERS, "api.create_rollout": WRITERS, "api.get_rollout": READERS,
    "api.list_rollout_recipients": READERS, "api.pause_rollout": WRITERS,
    "api.resume_rollout": WRITERS, "api.cancel_rollout": WRITERS,
    "api.get_insights": EVERYONE, "api.get_insight_run": EVERYONE,
    "api.start_insights": WRITERS, "api.assign_pattern": WRITERS,
    "api.search_people": READERS, "api.get_person": READERS, "api.upsert_person": OWNERS,
    "api.directory_fields": READERS, "api.get_hierarchy": READERS,
    "api.put_hierarchy": OWNERS, "api.import_directory": OWNERS,
    "api.preview_audience": WRITERS,
    "api.list_one_on_ones": READERS, "api.get_one_on_one": READERS,
    "api.create_one_on_one": WRITERS, "api.add_agenda_item": OWNERS,
    "api.one_on_one_usage": EVERYONE, "api.one_on_ones_link": OWNERS,
    "api.list_assigned_topics": READERS, "api.get_assigned_topic": READERS,
    "api.create_assigned_topic": WRITERS, "api.edit_assigned_topic": WRITERS,
    "api.send_assigned_topic": WRITERS, "api.withdraw_assigned_topic": WRITERS,
    "api.preview_assigned_topic": WRITERS,
    "api.export_interview": READERS, "api.create_export": EVERYONE,
    "api.get_export": EVERYONE, "api.download_export": EVERYONE, "api.list_audit": OWNERS,
    "api.list_failures": OWNERS, "api.retention_report": OWNERS,
    "api.get_retention": READERS, "api.put_retention": OWNERS, "api.erase_person": OWNERS,
    "api.list_webhooks": OWNERS, "api.get_webhook": OWNERS, "api.create_webhook": OWNERS,
    "api.delete_webhook": OWNERS, "api.list_webhook_deliveries": OWNERS,
    "api.redeliver_webhook_delivery": OWNERS,
}
# an analyst may call these for an aggregated session only
AGGREGATE_ONLY = {"api.list_interviews", "api.get_insights", "api.get_insight_run"}
# routes outside the HR API: a link's token, a provider's signature or nothing guards them,
# never an HR role
NOT_HR = {"static", "web_channel.", "one_on_one_pages.", "signin.", "slack.", "teams.",
          "sms.", "email.",
          "dashboard.", "root"}  # pages that read and change through this API, as the user


@pytest.fixture
def clients(api, library):
    # user 1: an account the walk below may change or disable (PATCH/DELETE /users/1)
    assert api.post("/users", {"email": "spare@hr.example", "role": V}).status_code == 201
    return {role: user_client(api, role) for role in ROLES}


def _operations(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint.startswith("api."):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule.endpoint, method, re.sub(r"<[^<>]+>", "1", rule.rule)


def test_every_route_has_an_entry(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    api = {e for e in endpoints if e.startswith("api.")}
    assert sorted(api - EXPECTED.keys()) == [], "add the new route to EXPECTED and POLICY"
    assert sorted(EXPECTED.keys() - api) == []
    others = {e for e in endpoints - api if not any(e.startswith(p) for p in NOT_HR)}
    assert others == set()


def test_every_route_answers_each_role_as_the_table_says(app, clients):
    """Each role calls every operation (ids that exist nowhere, no body): a role the table
    leaves out gets 403 before anything else happens; one it lists never does."""
    wrong = []
    for endpoint, method, url in _operations(app):
        for role, client in clients.items():
            status = client._call(method, url.removeprefix("/api/v1")).status_code
            allowed = role in EXPECTED[endpoint] or not EXPECTED[endpoint]
            if role == A and endpoint in AGGREGATE_ONLY:
                continue  # depends on the session: the analyst test below has both sides
            if allowed == (status in (401, 403)):
                wrong.append((role, method, url, status))
    assert wrong == []


def test_members_see_their_own_sessions_and_those_shared_with_them(api, clients, app):
    alice, bob = clients[M], user_client(api, M, "bob@hr.example")
    theirs = make_session(alice, name="Alice's stay interviews")
    admins = make_session(api, name="The admin's")
    assert theirs["owner_user_id"] == alice.user["id"]
    link = invite(alice, theirs["id"])["link"]
    WebChat(app.test_client(), token_of(link)).open().choose("accept")
    [interview] = alice.get(f"/sessions/{theirs['id']}/interviews").get_json()["interviews"]

    listed = [s["id"] for s in bob.get("/sessions").get_json()["sessions"]]
    assert listed == []
    for path in (f"/sessions/{theirs['id']}", f"/sessions/{theirs['id']}/interviews",
                 f"/interviews/{interview['id']}", f"/sessions/{admins['id']}"):
        resp = bob.get(path)
        assert resp.status_code == 404, path  # as if it did not exist
    assert bob.post(f"/sessions/{theirs['id']}/invites", {
        "person": {"name": "X", "email": "x@example.com"}, "channel": "web"}).status_code == 404

    shared = alice.put(f"/sessions/{theirs['id']}/shares", {"user_ids": [bob.user["id"]]})
    assert shared.status_code == 200, shared.get_json()
    assert [s["id"] for s in bob.get("/sessions").get_json()["sessions"]] == [theirs["id"]]
    assert bob.get(f"/interviews/{interview['id']}").status_code == 200
    # shared with, not owned: bob cannot share it on
    assert bob.put(f"/sessions/{theirs['id']}/shares",
                   {"user_ids": [bob.user["id"]]}).status_code == 403
    # the viewer and the owner see every session
    for role in (V, OWN):
        ids = {s["id"] for s in clients[role].get("/sessions").get_json()["sessions"]}
        assert {theirs["id"], admins["id"]} <= ids, role
    # unshared: gone again
    assert alice.put(f"/sessions/{theirs['id']}/shares", {"user_ids": []}).status_code == 200
    assert bob.get(f"/interviews/{interview['id']}").status_code == 404


def test_an_analyst_reads_aggregates_never_a_named_transcript(api, clients, app, work):
    analyst = clients[A]
    named = make_session(api, "exit-interview")
    link = invite(api, named["id"])["link"]
    WebChat(app.test_client(), token_of(link)).open().choose("accept")
    [interview] = api.get(f"/sessions/{named['id']}/interviews").get_json()["interviews"]
    assert analyst.get(f"/interviews/{interview['id']}").status_code == 403
    refused = analyst.get(f"/sessions/{named['id']}/interviews")
    assert refused.status_code == 403 and "aggregated" in refused.get_json()["error"]["message"]
    assert analyst.get(f"/sessions/{named['id']}/analytics").status_code == 200
    assert analyst.get("/people").status_code == 403  # the directory is personal data

    pulse = make_session(api, "engagement-pulse")
    assert pulse["anonymity"] == "aggregated"
    assert analyst.get(f"/sessions/{pulse['id']}/interviews").status_code == 200


def test_a_new_route_without_a_rule_is_refused_to_everyone(make_app, api):
    """Fail closed: an endpoint missing from POLICY answers 403 even to an owner."""
    from web.api import access

    assert access.POLICY.get("api.no_such_route") is None
    with pytest.raises(Exception) as refused:
        access.authorise(None, "api.no_such_route", {})
    assert getattr(refused.value, "status", None) == 403


def test_no_route_reaches_a_session_of_another_member(api, clients, app):
    """Every route naming a session, an interview, a rollout or an insights run of it
    answers another member 404, whatever the method."""
    alice, bob = clients[M], user_client(api, M, "ben@hr.example")
    session = make_session(alice, "engagement-pulse", name="Alice's pulse")
    link = invite(alice, session["id"])["link"]
    WebChat(app.test_client(), token_of(link)).open().choose("accept")
    named = make_session(alice, name="Alice's named one")
    WebChat(app.test_client(), token_of(invite(alice, named["id"], "eve@example.com",
                                                "Eve")["link"])).open()
    from core import db
    from core.models import Insight, Interview, Rollout

    with db.session_scope() as s:
        interview_id = s.query(Interview.id).filter_by(session_id=named["id"]).scalar()
        s.add(Rollout(session_id=session["id"], audience={}, channels=["web"]))
        s.add(Insight(session_id=session["id"], version=1, status="done", engine="offline",
                      group_by="", interviews=0, error=""))
        s.flush()
        ids = {"session_id": session["id"], "interview_id": interview_id,
               "rollout_id": s.query(Rollout.id).scalar(),
               "insight_id": s.query(Insight.id).scalar()}
    leaks = []
    for rule in app.url_map.iter_rules():
        scoped = [a for a in rule.arguments if a in ids]
        if not rule.endpoint.startswith("api.") or not scoped:
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = re.sub(rf"<(?:[^<>:]+:)?{arg}>", str(ids.get(arg, "x")), url)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            status = bob._call(method, url.removeprefix("/api/v1")).status_code
            if status not in (403, 404):
                leaks.append((method, url, status))
    assert leaks == []
    assert alice.get(f"/sessions/{session['id']}").status_code == 200


def test_an_analyst_sees_no_named_insights_and_only_grouped_figures(api, clients, app):
    analyst = clients[A]
    named = make_session(api, "exit-interview")
    refused = analyst.get(f"/sessions/{named['id']}/insights")
    assert refused.status_code == 403
    figures = analyst.get(f"/sessions/{named['id']}/analytics").get_json()
    assert figures["threshold"] == 5  # the anonymity threshold applies to an analyst
    assert "withheld" in figures  # no interview yet: nothing to show
    assert api.get(f"/sessions/{named['id']}/analytics").get_json()["threshold"] is None


def test_a_member_invites_people_but_does_not_edit_them(api, clients):
    member = clients[M]
    made = api.post("/people", {"name": "Ada Lovelace", "email": "ada@example.com",
                                "phone": "+14155550100"}).get_json()
    session = make_session(member)
    resp = member.post(f"/sessions/{session['id']}/invites", {
        "person": {"name": "Mallory", "email": "ada@example.com", "phone": "+14155550199"},
        "channel": "web"})
    assert resp.status_code == 201 and resp.get_json()["person_id"] == made["id"]
    person = api.get(f"/people/{made['id']}").get_json()
    assert (person["name"], person["phone"]) == ("Ada Lovelace", "+14155550100")
    new = member.post(f"/sessions/{session['id']}/invites", {
        "person": {"name": "Grace Hopper", "email": "grace@example.com"}, "channel": "web"})
    assert new.status_code == 201
    assert api.get(f"/people/{new.get_json()['person_id']}").get_json()["name"] == \
        "Grace Hopper"
