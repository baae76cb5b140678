"""Who a Teams user is: a roster email links them to a person only in our own tenant(s),
the UPN counts before the free-form mail field, and a linked person is never taken over."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from sqlalchemy import select

from core import db
from core.models import Person, TeamsContact
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_teams import EMAIL, TeamsWorld, teams_settings
from tests.support.factories import ApiClient
from tests.support.teams_stub import Authority, BotConnector
from tests.support.teams_stub import Person as TeamsUser

EVIL = "99999999-8888-7777-6666-555555555555"


def in_tenant(activity: dict, tenant: str) -> dict:
    activity["conversation"]["tenantId"] = activity["channelData"]["tenant"]["id"] = tenant
    return activity


@contextmanager
def world(make_app, tmp_path, monkeypatch, roster, **settings):
    with BotConnector(roster) as connector, Authority(tmp_path) as authority:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.cert_file))
        app = make_app(library=True, **{**teams_settings(connector, authority), **settings})
        client = app.test_client()
        yield TeamsWorld(connector, authority, client, ApiClient(client, ADMIN_TOKEN))


def member(user: TeamsUser, email: str | None = None, upn: str | None = None) -> dict:
    return {user.user_id: {"name": user.name, "aadObjectId": user.aad, "email": email,
                           "userPrincipalName": upn}}


def linked_user() -> str | None:
    with db.session_scope() as s:
        return s.scalar(select(Person.teams_user_id).where(Person.email == EMAIL))


def test_another_tenant_cannot_claim_a_person_by_setting_a_users_mail(make_app, tmp_path,
                                                                      monkeypatch):
    """A multi-tenant bot: any tenant can install it, and its admin can give a user the
    victim's address. That user is a stranger; the victim's invite does not go to them."""
    attacker = TeamsUser(7, name="Mallory")
    with world(make_app, tmp_path, monkeypatch, member(attacker, EMAIL, EMAIL),
               teams_tenant_id="") as w:
        w.person()  # the victim: known by email only
        reply = w.deliver(in_tenant(attacker.install(w.connector), EVIL), attacker)
        assert "couldn't find you" in reply.text
        assert linked_user() is None
        with db.session_scope() as s:
            assert s.scalar(select(TeamsContact.person_id)) is None
        session = w.invite()
        [invite] = w.api.get(f"/sessions/{session['id']}/invites").get_json()["invites"]
        assert invite["status"] == "unreachable" and "not installed" in invite["status_reason"]
        assert len(w.sent(attacker)) == 1  # the polite note only


def test_a_tenant_on_the_allowed_list_is_matched_by_email(make_app, tmp_path, monkeypatch):
    user = TeamsUser(7)
    with world(make_app, tmp_path, monkeypatch, member(user, EMAIL, EMAIL),
               teams_tenant_id="", teams_allowed_tenants=f"other, {EVIL}") as w:
        w.person()
        reply = w.deliver(in_tenant(user.install(w.connector), EVIL), user)
        assert "who will see your answers" in reply.text
        assert linked_user() == user.user_id


def test_the_upn_counts_before_the_mail_field(make_app, tmp_path, monkeypatch):
    user = TeamsUser(1)
    roster = member(user, email="someone.else@example.com", upn=EMAIL)
    with world(make_app, tmp_path, monkeypatch, roster) as w:
        w.person(email="someone.else@example.com", name="Someone Else")
        w.person()
        w.install()
        assert linked_user() == user.user_id
        with db.session_scope() as s:
            assert s.scalar(select(TeamsContact.email)) == EMAIL


def test_a_person_linked_to_one_teams_user_is_never_relinked_to_another(
        make_app, tmp_path, monkeypatch, caplog):
    first, second = TeamsUser(1), TeamsUser(2, name="Ada's namesake")
    with world(make_app, tmp_path, monkeypatch,
               {**member(first, EMAIL, EMAIL), **member(second, EMAIL, EMAIL)}) as w:
        w.person(aad_object_id=first.aad)
        w.install(first)
        assert linked_user() == first.user_id
        with caplog.at_level(logging.WARNING, logger="channels.teams"):
            reply = w.install(second)
        assert "couldn't find you" in reply.text
        assert linked_user() == first.user_id
        assert "OPERATOR" in caplog.text and "not re-linked" in caplog.text
        w.invite()
        assert w.last(first).buttons() == ["accept", "decline"]  # still Ada's own chat
        assert len(w.sent(second)) == 1


def test_a_contact_is_found_by_user_id_before_entra_id_before_email(make_app):
    """Not "whichever matched most recently": a weaker key never outranks a stronger one."""
    from datetime import timedelta

    from channels.teams import find_contact
    from core.messages import Address
    from core.models import utcnow

    make_app()
    now = utcnow()
    with db.session_scope() as s:
        s.add_all([
            TeamsContact(user_id="29:by-id", reference={}, updated_at=now - timedelta(days=2)),
            TeamsContact(user_id="29:by-aad", aad_object_id="aad-1", reference={},
                         updated_at=now - timedelta(days=1)),
            TeamsContact(user_id="29:by-email", email=EMAIL, reference={}, updated_at=now)])
    with db.session_scope() as s:
        def found(key, **data):
            return find_contact(s, Address("teams", key, data)).user_id

        assert found("29:by-id", aad="aad-1", email=EMAIL) == "29:by-id"
        assert found("", aad="aad-1", email=EMAIL) == "29:by-aad"
        assert found("29:nobody", aad="nobody", email=EMAIL.upper()) == "29:by-email"
