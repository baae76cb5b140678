"""Rollouts end to end on the real database and queue: recipients chosen in SQL, each at their
local time outside quiet hours, exactly one invite per person whatever the retries, crashes
or concurrent dispatchers, pause / resume / cancel, reminders, triggers on HR dates."""

from __future__ import annotations

import contextvars
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from core import db, directory, jobs, phones, rollouts
from core.models import (
    Interview,
    Invite,
    OutboundRecord,
    Person,
    Rollout,
    RolloutRecipient,
    Session,
    TeamsContact,
)
from tests.conftest import ADMIN_TOKEN
from tests.support.factories import ApiClient, make_session
from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub
from tests.support.worker import run_jobs

ROOT = Path(__file__).resolve().parents[2]
R = RolloutRecipient
MONDAY = datetime(2026, 3, 9, 10, tzinfo=UTC)  # 10:00 on Monday 9 March 2026: a working morning


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def hr(make_app, tmp_path):
    """HR's API on a server whose email channel writes .eml files (web links go by email)."""
    app = make_app(library=True, mail_dir=str(tmp_path / "mail"))
    return ApiClient(app.test_client(), ADMIN_TOKEN)


def add_person(name: str, *, email: str | None = None, tz: str = "UTC", **data) -> int:
    with db.session_scope() as s:
        person, _ = directory.upsert(s, {"name": name, "email": email, "timezone": tz, **data})
        return person.id


def new_rollout(session_id: int, **kw) -> int:
    kw.setdefault("audience", {})
    kw.setdefault("channels", ["web"])
    with db.session_scope() as s:
        return rollouts.create(s, s.get(Session, session_id), **kw).id


def recipients(rollout_id: int) -> dict[str, RolloutRecipient]:
    with db.session_scope() as s:
        rows = s.execute(select(R, Person.name).join(Person, Person.id == R.person_id)
                         .where(R.rollout_id == rollout_id)).all()
        for r, _ in rows:
            s.expunge(r)
        return {name: r for r, name in rows}


def state(rollout_id: int) -> str:
    with db.session_scope() as s:
        return s.get(Rollout, rollout_id).state


def invites_per_person() -> dict[int, int]:
    with db.session_scope() as s:
        return dict(s.execute(select(Invite.person_id, func.count())
                              .group_by(Invite.person_id)).all())


def outbound_per_person() -> dict[int, int]:
    """First messages per person: the link emails and the consent messages."""
    with db.session_scope() as s:
        return dict(s.execute(
            select(Invite.person_id, func.count(OutboundRecord.id))
            .join(OutboundRecord, OutboundRecord.invite_id == Invite.id)
            .group_by(Invite.person_id)).all())


def deliver_while_open(**kw) -> None:
    """Run the jobs with every invite open: the tests' dates are long past, and the outbox
    drops a reminder whose invite expired by the real clock."""
    with db.session_scope() as s:
        kept = dict(s.execute(select(Invite.id, Invite.expires_at)).all())
        s.execute(update(Invite).values(expires_at=utc(2100, 1, 1)))
    run_jobs(**kw)
    with db.session_scope() as s:
        for invite_id, expires_at in kept.items():
            s.execute(update(Invite).where(Invite.id == invite_id)
                      .values(expires_at=expires_at))


def takes_part(name: str) -> None:
    """``name`` opens their invite's interview and agrees: they have responded."""
    from core import engine, invites

    with db.session_scope() as s:
        invite = s.scalar(select(Invite).join(Person).where(Person.name == name))
        interview, _ = invites.open_interview(s, invite)
        engine.start(s, interview)
        engine.transition(interview, "accept")


def mails(tmp_path) -> list:
    return [message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted((tmp_path / "mail").glob("*.eml"))]


# ---- when: local time, DST, quiet hours ------------------------------------------------------

def test_nine_local_reaches_tokyo_before_berlin_before_new_york(hr):
    session = make_session(hr)
    for name, tz in (("Aiko", "Asia/Tokyo"), ("Bernd", "Europe/Berlin"),
                     ("Nora", "America/New_York")):
        add_person(name, email=f"{name.lower()}@example.com", tz=tz)
    rollout = new_rollout(session["id"], send_at=utc(2026, 3, 10), local_time="09:00",
                          now=MONDAY)
    due = {name: r.due_at for name, r in recipients(rollout).items()}
    assert due == {"Aiko": utc(2026, 3, 10, 0), "Bernd": utc(2026, 3, 10, 8),
                   "Nora": utc(2026, 3, 10, 13)}

    assert rollouts.dispatch(rollout, now=utc(2026, 3, 10, 1))["invited"] == 1
    assert {n for n, r in recipients(rollout).items() if r.status == "invited"} == {"Aiko"}
    assert state(rollout) == "sending"
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 10, 13))["invited"] == 2
    assert state(rollout) == "completed"


def test_local_time_on_a_dst_change_day(hr):
    session = make_session(hr)
    add_person("Nora", email="nora@example.com", tz="America/New_York")
    add_person("Bernd", email="bernd@example.com", tz="Europe/Berlin")
    spring_ny = new_rollout(session["id"], send_at=utc(2026, 3, 8), local_time="09:00",
                            respect_quiet_hours=False, now=utc(2026, 3, 1))
    spring_de = new_rollout(session["id"], send_at=utc(2026, 3, 29), local_time="09:00",
                            respect_quiet_hours=False, now=utc(2026, 3, 1))
    assert recipients(spring_ny)["Nora"].due_at == utc(2026, 3, 8, 13)  # EDT from today
    assert recipients(spring_ny)["Bernd"].due_at == utc(2026, 3, 8, 8)  # still CET
    assert recipients(spring_de)["Bernd"].due_at == utc(2026, 3, 29, 7)  # CEST from today
    assert recipients(spring_de)["Nora"].due_at == utc(2026, 3, 29, 13)


def test_already_passed_goes_at_once_unless_it_is_their_night(hr):
    session = make_session(hr)
    add_person("Aiko", email="aiko@example.com", tz="Asia/Tokyo")
    add_person("Bernd", email="bernd@example.com", tz="Europe/Berlin")
    now = utc(2026, 3, 10, 15)  # 16:00 in Berlin, midnight in Tokyo
    rollout = new_rollout(session["id"], send_at=utc(2026, 3, 10), local_time="09:00", now=now)
    due = {name: r.due_at for name, r in recipients(rollout).items()}
    assert due == {"Bernd": now, "Aiko": utc(2026, 3, 10, 23)}  # 08:00 Wednesday in Tokyo


def test_weekends_and_custom_quiet_hours_per_rollout(hr):
    session = make_session(hr)
    add_person("Bernd", email="bernd@example.com", tz="Europe/Berlin")
    friday_evening = new_rollout(session["id"], send_at=utc(2026, 3, 13), local_time="21:00",
                                 now=MONDAY)
    assert recipients(friday_evening)["Bernd"].due_at == utc(2026, 3, 16, 7)  # Monday 08:00
    weekend_ok = new_rollout(session["id"], send_at=utc(2026, 3, 14), local_time="21:00",
                             quiet_hours={"start": "22:00", "end": "07:00"},
                             working_days=["sat"], now=MONDAY)
    assert recipients(weekend_ok)["Bernd"].due_at == utc(2026, 3, 14, 20)  # Saturday 21:00
    anytime = new_rollout(session["id"], send_at=utc(2026, 3, 14, 23), now=MONDAY,
                          respect_quiet_hours=False)
    assert recipients(anytime)["Bernd"].due_at == utc(2026, 3, 14, 23)


# ---- who and on which channel ----------------------------------------------------------------

def test_first_reachable_channel_in_order_and_reasons_for_the_rest(hr):
    session = make_session(hr)
    add_person("Slacker", email="slacker@example.com", slack_user_id="U1")
    add_person("Texter", phone="+15550100001")
    add_person("Teamer", email="teamer@example.com")
    add_person("Stopped", phone="+15550100002")
    add_person("Nobody")
    with db.session_scope() as s:
        teamer = s.scalar(select(Person).where(Person.name == "Teamer"))
        s.add(TeamsContact(user_id="29:teamer", person_id=teamer.id))
        phones.opt_out(s, "+15550100002", "STOP")
    rollout = new_rollout(session["id"], channels=["teams", "sms", "web"], now=MONDAY)
    got = {n: (r.channel, r.status, r.reason) for n, r in recipients(rollout).items()}
    assert got == {
        "Slacker": ("web", "pending", ""),
        "Texter": ("sms", "pending", ""),
        "Teamer": ("teams", "pending", ""),
        "Stopped": (None, "opted_out", "no address on teams, web; sms opted out"),
        "Nobody": (None, "unreachable", "no address on teams, sms, web"),
    }
    slack_first = new_rollout(session["id"], channels=["slack", "sms"], now=MONDAY)
    got = {n: (r.channel, r.status) for n, r in recipients(slack_first).items()}
    # Slack finds people by email when it has no id for them
    assert got["Slacker"] == ("slack", "pending") and got["Teamer"] == ("slack", "pending")
    assert got["Texter"] == ("sms", "pending") and got["Nobody"] == (None, "unreachable")


def test_the_audience_rule_and_inactive_people(hr):
    session = make_session(hr)
    add_person("Greta", email="greta@example.com", demographics={"Country": "Germany"})
    add_person("Fran", email="fran@example.com", demographics={"Country": "France"})
    gone = add_person("Gone", email="gone@example.com", demographics={"Country": "Germany"})
    with db.session_scope() as s:
        s.get(Person, gone).active = False
    rollout = new_rollout(session["id"], now=MONDAY, audience={
        "match": "all", "conditions": [{"field": "Country", "op": "equals",
                                        "value": "germany"}]})
    assert set(recipients(rollout)) == {"Greta"}


def test_the_audience_matches_keys_as_the_preview_does(hr):
    session = make_session(hr)
    add_person("Rémi", email="remi@example.com", demographics={"Région": "Nord"})
    rule = {"match": "all", "conditions": [{"field": "Region", "op": "equals", "value": "nord"}]}
    assert hr.post("/audiences/preview", {"audience": rule}).get_json()["count"] == 1
    rollout = new_rollout(session["id"], now=MONDAY, audience=rule)
    assert set(recipients(rollout)) == {"Rémi"}


def test_a_second_rollout_does_not_invite_the_same_people_again(hr):
    session = make_session(hr)
    add_person("Ada", email="ada@example.com")
    first = new_rollout(session["id"], now=MONDAY, respect_quiet_hours=False)
    assert rollouts.dispatch(first, now=MONDAY)["invited"] == 1
    add_person("Bob", email="bob@example.com")
    again = new_rollout(session["id"], now=MONDAY, respect_quiet_hours=False)  # double click
    people = recipients(again)
    assert people["Ada"].status == "already_invited"
    assert people["Ada"].reason == "already invited to this session on 2026-03-09"
    assert people["Bob"].status == "pending"
    assert rollouts.dispatch(again, now=MONDAY)["invited"] == 1
    assert sorted(invites_per_person().values()) == [1, 1]
    counts = hr.get(f"/rollouts/{again}").get_json()["counts"]
    assert counts["already_invited"] == 1 and counts["queued"] == 1  # not yet sent


def test_a_rollout_with_nobody_to_invite_is_completed_at_once(hr):
    session = make_session(hr)
    add_person("Nomail")  # unreachable on every channel
    nobody = new_rollout(session["id"], now=MONDAY, audience={
        "match": "all", "conditions": [{"field": "name", "op": "equals", "value": "Zed"}]})
    unreachable = new_rollout(session["id"], now=MONDAY)
    assert state(nobody) == "completed" and state(unreachable) == "completed"
    assert rollouts.dispatch_due(now=MONDAY + timedelta(days=1)) == []


# ---- exactly once -----------------------------------------------------------------------------

def test_repeated_and_concurrent_dispatch_invite_each_person_once(hr, tmp_path):
    session = make_session(hr)
    people = [add_person(f"P{i:02d}", email=f"p{i:02d}@example.com") for i in range(30)]
    rollout = new_rollout(session["id"], now=MONDAY)

    def run():
        rollouts.dispatch(rollout, now=MONDAY, batch=4)

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(run,))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run()  # and once more, as a retry would
    assert rollouts.dispatch_due(now=MONDAY) == []  # nothing left to do
    assert invites_per_person() == dict.fromkeys(people, 1)
    assert outbound_per_person() == dict.fromkeys(people, 1)
    run_jobs()
    assert len(mails(tmp_path)) == 30
    with db.session_scope() as s:
        assert set(s.scalars(select(OutboundRecord.queue))) == {jobs.BULK}
    assert state(rollout) == "completed"


def test_without_the_lock_the_claim_guard_still_invites_each_person_once(hr):
    """Two dispatchers past the lock (it expired under a slow one): the row claim decides."""
    session = make_session(hr)
    people = [add_person(f"P{i:02d}", email=f"p{i:02d}@example.com") for i in range(40)]
    rollout = new_rollout(session["id"], now=MONDAY)
    done: list[int] = []

    def run():
        done.append(rollouts._invite_due(rollout, MONDAY, 3, time.monotonic() + 300))

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(run,))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(done) == 40
    assert invites_per_person() == dict.fromkeys(people, 1)
    assert outbound_per_person() == dict.fromkeys(people, 1)


def test_a_dispatcher_killed_mid_rollout_resumes_without_a_duplicate(hr, tmp_path):
    session = make_session(hr)
    people = [add_person(f"P{i:03d}", email=f"p{i:03d}@example.com") for i in range(300)]
    rollout = new_rollout(session["id"], now=MONDAY)
    settings = hr.client.application.config["SETTINGS"].model_dump()
    env = {**os.environ, **{k.upper(): str(v) for k, v in settings.items()},
           "PYTHONPATH": str(ROOT)}
    code = (f"from datetime import datetime; from core import rollouts; "
            f"rollouts.dispatch({rollout}, now=datetime.fromisoformat('{MONDAY.isoformat()}'), "
            f"batch=10, backlog=1000)")
    dispatcher = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                                  start_new_session=True, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)

    def invited() -> int:
        with db.session_scope() as s:
            return s.scalar(select(func.count()).select_from(R).where(R.status == "invited"))

    try:
        end = time.monotonic() + 60
        while invited() < 20 and time.monotonic() < end and dispatcher.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(dispatcher.pid, signal.SIGKILL)
        dispatcher.wait(timeout=10)
    before = invited()
    assert 20 <= before < 300, "the dispatcher was to be killed part-way"
    # what it committed is whole: every invited recipient has its invite and its email
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(R).where(
            R.status == "invited", R.outbound_id.is_(None))) == 0
    # it died holding the rollout's lock: the next dispatch waits for it to expire
    assert rollouts.dispatch(rollout, now=MONDAY)["invited"] == 0
    jobs.connection().delete(f"parley:rollout:{rollout}")  # time passes: the lock expires
    assert rollouts.dispatch(rollout, now=MONDAY, backlog=1000)["invited"] == 300 - before
    assert invites_per_person() == dict.fromkeys(people, 1)
    assert outbound_per_person() == dict.fromkeys(people, 1)
    from channels.durable import sweep

    sweep(older_than_seconds=0)  # the batch whose delivery jobs died with the dispatcher
    run_jobs()
    assert sorted(m["To"] for m in mails(tmp_path)) == \
        sorted(f"p{i:03d}@example.com" for i in range(300))


# ---- control ---------------------------------------------------------------------------------

def test_pause_resume_cancel_through_the_api(hr):
    session = make_session(hr)
    for i in range(3):
        add_person(f"P{i}", email=f"p{i}@example.com")
    resp = hr.post(f"/sessions/{session['id']}/rollouts", {
        "audience": {}, "channels": ["web"], "send_at": "2030-01-08T09:00:00Z"})
    assert resp.status_code == 201, resp.get_json()
    rid = resp.get_json()["id"]
    assert hr.post(f"/rollouts/{rid}/resume").status_code == 409
    paused = hr.post(f"/rollouts/{rid}/pause")
    assert paused.status_code == 200 and paused.get_json()["state"] == "paused"
    assert rollouts.dispatch(rid, now=utc(2030, 1, 9))["invited"] == 0  # paused: skipped
    assert hr.post(f"/rollouts/{rid}/pause").status_code == 409
    assert hr.post(f"/rollouts/{rid}/resume").get_json()["state"] == "scheduled"
    # one person's time came while it was paused (as if time passed), the rest later
    with db.session_scope() as s:
        first = s.scalar(select(R.id).where(R.rollout_id == rid).order_by(R.id).limit(1))
        s.execute(update(R).where(R.id == first).values(due_at=utc(2030, 1, 7, 9)))
    assert rollouts.dispatch(rid, now=utc(2030, 1, 7, 10))["invited"] == 1
    cancelled = hr.post(f"/rollouts/{rid}/cancel").get_json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["counts"]["cancelled"] == 2 and cancelled["counts"]["queued"] == 1
    assert cancelled["finished_at"] is not None
    assert hr.post(f"/rollouts/{rid}/cancel").status_code == 409
    assert rollouts.dispatch(rid, now=utc(2030, 2, 1))["invited"] == 0
    assert len(invites_per_person()) == 1


def outbox_statuses() -> list[str]:
    with db.session_scope() as s:
        return sorted(s.scalars(select(OutboundRecord.status)))


def test_dispatch_keeps_only_a_small_backlog_on_the_outbox(hr, tmp_path):
    session = make_session(hr)
    for i in range(5):
        add_person(f"P{i}", email=f"p{i}@example.com")
    rollout = new_rollout(session["id"], now=MONDAY, respect_quiet_hours=False)
    assert rollouts.dispatch(rollout, now=MONDAY, backlog=2)["invited"] == 2
    assert rollouts.dispatch(rollout, now=MONDAY, backlog=2)["invited"] == 0  # still unsent
    run_jobs()
    assert rollouts.dispatch(rollout, now=MONDAY, backlog=2)["invited"] == 2
    run_jobs()
    assert rollouts.dispatch(rollout, now=MONDAY, backlog=2)["invited"] == 1
    run_jobs()
    assert len(mails(tmp_path)) == 5 and state(rollout) == "completed"


def test_pause_holds_and_cancel_stops_what_is_already_on_the_outbox(hr, tmp_path):
    from channels.durable import sweep

    session = make_session(hr)
    for i in range(4):
        add_person(f"P{i}", email=f"p{i}@example.com")
    rid = new_rollout(session["id"], now=MONDAY, respect_quiet_hours=False)
    assert rollouts.dispatch(rid, now=MONDAY, backlog=3)["invited"] == 3  # 3 emails queued
    assert hr.post(f"/rollouts/{rid}/pause").status_code == 200
    run_jobs()
    assert mails(tmp_path) == [] and outbox_statuses() == ["pending"] * 3
    with db.session_scope() as s:  # a paused row's try does not count against it
        assert set(s.scalars(select(OutboundRecord.attempts))) == {0}
    assert hr.post(f"/rollouts/{rid}/resume").status_code == 200
    sweep(older_than_seconds=0)
    run_jobs()  # the three held, and the fourth (resume enqueues a dispatch)
    assert len(mails(tmp_path)) == 4 and outbox_statuses() == ["sent"] * 4

    other = make_session(hr)
    rid = new_rollout(other["id"], now=MONDAY, respect_quiet_hours=False)
    assert rollouts.dispatch(rid, now=MONDAY, backlog=3)["invited"] == 3
    assert hr.post(f"/rollouts/{rid}/cancel").status_code == 200
    run_jobs()
    sweep(older_than_seconds=0)
    run_jobs()
    assert len(mails(tmp_path)) == 4  # none of the second rollout's
    assert outbox_statuses() == ["cancelled"] * 3 + ["sent"] * 4
    got = hr.get(f"/rollouts/{rid}").get_json()
    assert got["counts"]["cancelled"] == 4 and got["counts"]["sent"] == 0


def test_a_queued_reminder_is_dropped_once_the_invite_expired(hr, tmp_path):
    session = make_session(hr)
    add_person("Ada", email="ada@example.com")
    rollout = new_rollout(session["id"], reminders={"after_days": [1]}, now=MONDAY,
                          respect_quiet_hours=False)
    rollouts.dispatch(rollout, now=MONDAY)
    run_jobs()
    assert rollouts.dispatch(rollout, now=MONDAY + timedelta(days=1))["reminded"] == 1
    with db.session_scope() as s:  # it waited on the outbox until the invite expired
        s.execute(update(Invite).values(expires_at=MONDAY))
    run_jobs()
    assert len(mails(tmp_path)) == 1
    assert outbox_statuses() == ["cancelled", "sent"]


def test_a_message_that_keeps_giving_way_has_two_jobs_at_most(hr, tmp_path):
    from rq import Worker

    from core import ratelimit

    session = make_session(hr)
    add_person("Ada", email="ada@example.com")
    rollout = new_rollout(session["id"], now=MONDAY, respect_quiet_hours=False)
    jobs.queue(jobs.INTERACTIVE).enqueue("builtins.print")  # a reply waits for a worker
    ratelimit.hold("email:smtp", 1.0)  # no send slot for a while: it gives way, again and again
    rollouts.dispatch(rollout, now=MONDAY)
    bulk = jobs.queue(jobs.BULK)
    Worker([bulk], connection=bulk.connection).work(burst=True, logging_level="WARNING")
    assert len(mails(tmp_path)) == 1
    with db.session_scope() as s:
        record = s.scalar(select(OutboundRecord.id))
    names = {k.decode() for k in jobs.connection().keys(f"rq:job:out-{record}*")}
    assert names <= {f"rq:job:out-{record}{end}" for end in ("", "-a", "-b")}


# ---- reminders -------------------------------------------------------------------------------

def test_reminders_are_capped_and_marked_auto_generated(hr, tmp_path):
    session = make_session(hr)
    add_person("Ada", email="ada@example.com", tz="Europe/Berlin")
    rollout = new_rollout(session["id"], send_at=utc(2026, 3, 9), local_time="09:00",
                          reminders={"after_days": [1, 2]}, now=utc(2026, 3, 1))
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 9, 8))["invited"] == 1
    ada = recipients(rollout)["Ada"]
    assert ada.next_reminder_at == utc(2026, 3, 10, 8)  # a day later, 09:00 local
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 10, 7))["reminded"] == 0
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 10, 8))["reminded"] == 1
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 10, 9))["reminded"] == 0  # once each
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 11, 8))["reminded"] == 1
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 15))["reminded"] == 0  # capped at 2
    assert recipients(rollout)["Ada"].reminders_sent == 2
    assert rollouts.dispatch_due(now=utc(2026, 3, 15)) == []
    deliver_while_open()
    invite, *nudges = mails(tmp_path)
    assert invite["Auto-Submitted"] is None and "/c/" in invite.get_body(("plain",)).get_content()
    assert len(nudges) == 2
    for nudge in nudges:
        assert nudge["Auto-Submitted"] == "auto-generated"
        assert nudge["Subject"] == f"Reminder: {session['name']}"


def test_reminders_wait_out_the_weekend(hr):
    session = make_session(hr)
    add_person("Bernd", email="bernd@example.com", tz="Europe/Berlin")
    rollout = new_rollout(session["id"], send_at=utc(2026, 3, 13), local_time="10:00",
                          reminders={"after_days": [1]}, now=MONDAY)
    rollouts.dispatch(rollout, now=utc(2026, 3, 13, 9))
    assert recipients(rollout)["Bernd"].next_reminder_at == utc(2026, 3, 16, 7)  # Monday 08:00


def test_a_late_reminder_is_not_followed_at_once_by_the_next(hr, tmp_path):
    session = make_session(hr)
    add_person("Ada", email="ada@example.com")
    rollout = new_rollout(session["id"], reminders={"after_days": [1, 2]}, now=MONDAY,
                          respect_quiet_hours=False)
    rollouts.dispatch(rollout, now=MONDAY)
    # the dispatcher was down for four days: both reminders are overdue, one goes
    assert rollouts.dispatch(rollout, now=MONDAY + timedelta(days=4))["reminded"] == 1
    ada = recipients(rollout)["Ada"]
    assert ada.reminders_sent == 1
    assert ada.next_reminder_at == MONDAY + timedelta(days=5)  # the gap of one day kept
    assert rollouts.dispatch(rollout, now=MONDAY + timedelta(days=4, hours=1))["reminded"] == 0
    assert rollouts.dispatch(rollout, now=MONDAY + timedelta(days=5))["reminded"] == 1
    deliver_while_open()
    assert len(mails(tmp_path)) == 3


@pytest.fixture
def slack(make_app):
    with SlackStub(users={"ada@example.com": "U1", "bob@example.com": "U2",
                          "cy@example.com": "U3"}) as stub:
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_bot_token=BOT_TOKEN, slack_api_base_url=stub.base_url)
        yield stub, ApiClient(app.test_client(), ADMIN_TOKEN)


def test_reminders_stop_when_finished_opted_out_or_expired(slack):
    stub, api = slack
    session = make_session(api)
    add_person("Ada", email="ada@example.com", phone="+15550100001")
    add_person("Bob", email="bob@example.com", phone="+15550100002")
    add_person("Cy", email="cy@example.com", phone="+15550100003")
    add_person("Dee", phone="+15550100004")
    rollout = new_rollout(session["id"], channels=["slack", "sms"], now=MONDAY,
                          respect_quiet_hours=False, reminders={"after_days": [1, 3, 9]})
    assert rollouts.dispatch(rollout, now=MONDAY)["invited"] == 4
    run_jobs()
    assert len(stub.posts_to("U1")) == 1  # the consent message, on Slack
    people = recipients(rollout)
    assert people["Dee"].channel == "sms"
    with db.session_scope() as s:  # Ada declines; HR ends Bob's; Dee texts STOP
        interviews = {i.person.name: i for i in s.scalars(select(Interview))}
    assert api.post(f"/interviews/{interviews['Bob'].id}/end").status_code == 200
    from core import engine

    with db.session_scope() as s:
        ada = s.get(Interview, interviews["Ada"].id)
        engine.transition(ada, "decline")
        phones.opt_out(s, "+15550100004", "STOP")
    assert rollouts.dispatch(rollout, now=MONDAY + timedelta(days=1))["reminded"] == 1  # Cy
    deliver_while_open()
    nudge = stub.posts_to("U3")[-1]
    assert "gentle reminder" in nudge.text
    assert rollouts.dispatch(rollout, now=MONDAY + timedelta(days=3))["reminded"] == 1
    # the third reminder (day 9) would come after the invite expires (7 days): never sent
    assert recipients(rollout)["Cy"].next_reminder_at is None
    assert rollouts.dispatch(rollout, now=MONDAY + timedelta(days=10))["reminded"] == 0
    got = {n: r.reminders_sent for n, r in recipients(rollout).items()}
    assert got == {"Ada": 0, "Bob": 0, "Cy": 2, "Dee": 0}
    assert len(stub.posts_to("U1")) == 1 and len(stub.posts_to("U2")) == 2  # + HR's close


def test_an_expired_invite_gets_no_reminder(hr):
    session = make_session(hr)
    add_person("Ada", email="ada@example.com")
    rollout = new_rollout(session["id"], reminders={"after_days": [3]}, now=MONDAY,
                          respect_quiet_hours=False)
    rollouts.dispatch(rollout, now=MONDAY)
    with db.session_scope() as s:  # HR's link expired early (unsubscribed by email)
        s.execute(update(Invite).values(expires_at=MONDAY + timedelta(days=1)))
    assert rollouts.dispatch(rollout, now=MONDAY + timedelta(days=3))["reminded"] == 0
    assert recipients(rollout)["Ada"].next_reminder_at is None


# ---- triggers --------------------------------------------------------------------------------

def test_triggers_invite_once_over_repeated_runs_and_imports(hr, tmp_path):
    session = make_session(hr)
    resp = hr.patch(f"/sessions/{session['id']}", {"triggers": [
        {"on": "start_date", "days_after": 30}, {"on": "end_date"}]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["triggers"] == [
        {"on": "start_date", "days_after": 30, "channels": ["email", "web"],
         "local_time": "09:00"},
        {"on": "end_date", "days_before": 0, "channels": ["email", "web"],
         "local_time": "09:00"}]
    today = date(2026, 3, 10)
    joined = {"Due": "2026-02-08", "Late": "2026-02-03", "Old": "2026-01-20",
              "Future": "2026-02-20"}
    for name, start in joined.items():
        add_person(name, email=f"{name.lower()}@example.com", tz="Europe/Berlin",
                   demographics={"Start Date": start})
    add_person("Leaver", email="leaver@example.com", demographics={"End Date": "2026-03-10"})
    now = utc(2026, 3, 10, 7, 30)  # 08:30 in Berlin
    added = rollouts.run_triggers(today=today, now=now)
    assert added == {f"{session['id']}:start_date+30": 2, f"{session['id']}:end_date-0": 1}
    with db.session_scope() as s:
        standing = {r.trigger_key: r.id for r in s.scalars(select(Rollout))}
    onboarding = recipients(standing["start_date+30"])
    assert set(onboarding) == {"Due", "Late"}  # Old is past the catch-up; Future not yet
    assert onboarding["Due"].due_at == utc(2026, 3, 10, 8)  # 09:00 Berlin on its day
    assert onboarding["Late"].due_at == now  # missed on 5 March: at once

    again = rollouts.run_triggers(today=today, now=now)
    for name, start in joined.items():  # the directory re-imported
        add_person(name, email=f"{name.lower()}@example.com", demographics={
            "Start Date": start})
    again.update(rollouts.run_triggers(today=today + timedelta(days=1), now=now))
    assert set(again.values()) == {0}
    for rollout in standing.values():
        rollouts.dispatch(rollout, now=utc(2026, 3, 11, 9))
    assert rollouts.run_triggers(today=today, now=now) == again
    assert sorted(invites_per_person().values()) == [1, 1, 1]
    assert state(standing["start_date+30"]) == "sending"  # standing: it never completes
    # on the day Future's 30 days are up, Future joins
    assert rollouts.run_triggers(today=date(2026, 3, 22), now=now)[
        f"{session['id']}:start_date+30"] == 1


def test_triggers_find_the_date_however_the_directory_spells_its_key(hr):
    session = make_session(hr)
    assert hr.patch(f"/sessions/{session['id']}", {"triggers": [
        {"on": "start_date", "days_after": 0}]}).status_code == 200
    for name, key in (("Snake", "start_date"), ("Camel", "StartDate"), ("Shout", "START DATE")):
        add_person(name, email=f"{name.lower()}@example.com", demographics={key: "2026-03-10"})
    now = utc(2026, 3, 10, 7)
    assert rollouts.run_triggers(today=date(2026, 3, 10), now=now) == {
        f"{session['id']}:start_date+0": 3}
    with db.session_scope() as s:
        standing = s.scalar(select(Rollout.id))
    assert {r.due_at for r in recipients(standing).values()} == {utc(2026, 3, 10, 9)}


def test_a_trigger_reaches_the_far_east_at_nine_before_the_utc_date_turns(hr):
    session = make_session(hr)
    assert hr.patch(f"/sessions/{session['id']}", {"triggers": [
        {"on": "start_date", "days_after": 0}]}).status_code == 200
    add_person("Kylie", email="kylie@example.com", tz="Australia/Sydney",
               demographics={"Start Date": "2026-03-11"})
    now = utc(2026, 3, 10, 12)
    assert rollouts.run_triggers(today=date(2026, 3, 10), now=now) == {
        f"{session['id']}:start_date+0": 1}
    with db.session_scope() as s:
        standing = s.scalar(select(Rollout.id))
    assert recipients(standing)["Kylie"].due_at == utc(2026, 3, 10, 22)  # 09:00 AEDT on 11th


def test_people_who_left_after_the_rollout_was_made_are_not_invited(hr):
    session = make_session(hr)
    gone = add_person("Gone", email="gone@example.com")
    add_person("Stay", email="stay@example.com")
    rollout = new_rollout(session["id"], now=MONDAY, respect_quiet_hours=False)
    with db.session_scope() as s:
        s.get(Person, gone).active = False
    assert rollouts.dispatch(rollout, now=MONDAY)["invited"] == 1
    people = recipients(rollout)
    assert (people["Gone"].status, people["Gone"].reason) == ("cancelled", "no longer active")
    assert invites_per_person() == {people["Stay"].person_id: 1}
    assert state(rollout) == "completed"


def test_triggers_may_change_on_a_locked_session_and_are_validated(hr):
    session = make_session(hr)
    with db.session_scope() as s:
        s.get(Session, session["id"]).locked_at = MONDAY
    resp = hr.patch(f"/sessions/{session['id']}", {"triggers": [
        {"on": "start_date", "days_after": 14, "channels": ["web"], "local_time": "10:30"}]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["triggers"][0]["days_after"] == 14
    bad = hr.patch(f"/sessions/{session['id']}", {"triggers": [
        {"on": "start_date", "channels": ["sms"]}]})
    assert bad.status_code == 400 and "triggers[0].channels" in bad.get_json()["error"][
        "message"]
    both = hr.patch(f"/sessions/{session['id']}", {"triggers": [
        {"on": "end_date", "days_after": 1, "days_before": 1}]})
    assert both.status_code == 400


def test_the_cli_runs_triggers(hr, capsys):
    from web.cli import main

    session = make_session(hr)
    hr.patch(f"/sessions/{session['id']}", {"triggers": [{"on": "end_date", "days_before": 2}]})
    add_person("Leaver", email="leaver@example.com", demographics={"End Date": "2026-03-12"})
    assert main(["triggers", "run", "--today", "2026-03-10"]) == 0
    assert f"{session['id']}:end_date-2: 1 added" in capsys.readouterr().out
    assert main(["triggers", "run", "--today", "2026-03-10"]) == 0
    assert f"{session['id']}:end_date-2: 0 added" in capsys.readouterr().out


def test_the_scheduler_enqueues_dispatch_and_triggers():
    from core.config import load_settings
    from scheduler.__main__ import schedule

    jobs_ = schedule(load_settings(var_dir=Path("/tmp")))
    assert jobs_["core.rollouts.dispatch_due"] == 15
    assert jobs_["core.rollouts.run_triggers"] == 3600


# ---- the API ---------------------------------------------------------------------------------

def test_rollout_api_shapes_and_progress(hr, tmp_path):
    session = make_session(hr)
    for i in range(3):
        add_person(f"P{i}", email=f"p{i}@example.com")
    add_person("Nobody")
    resp = hr.post(f"/sessions/{session['id']}/rollouts", {
        "audience": {"match": "all", "conditions": []}, "channels": ["web"],
        "reminders": {"after_days": [3, 5]}, "respect_quiet_hours": False})
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["state"] == "scheduled" and created["total"] == 4
    assert created["counts"] == {"pending": 3, "queued": 0, "sent": 0, "delivered": 0,
                                 "responded": 0, "unreachable": 1, "opted_out": 0, "failed": 0,
                                 "cancelled": 0, "already_invited": 0}
    assert created["percent"] == 25.0 and created["reminders"] == {"after_days": [3, 5]}
    run_jobs()  # the dispatch job enqueued at creation
    got = hr.get(f"/rollouts/{created['id']}").get_json()
    assert got["state"] == "completed" and got["percent"] == 100.0
    assert got["counts"]["sent"] == 3 and len(got["recipients"]) == 4
    # someone opens their link and answers: responded
    link = next(m for m in mails(tmp_path) if m["To"] == "p0@example.com") \
        .get_body(("plain",)).get_content().split("/c/")[1].split()[0]
    client = hr.client
    client.get(f"/c/{link}")
    takes_part("P0")
    page1 = hr.get(f"/rollouts/{created['id']}/recipients?limit=2").get_json()
    assert len(page1["recipients"]) == 2 and page1["next"]
    page2 = hr.get(page1["next"].removeprefix("/api/v1")).get_json()
    assert {r["name"] for r in page1["recipients"] + page2["recipients"]} == \
        {"P0", "P1", "P2", "Nobody"}
    responded = hr.get(f"/rollouts/{created['id']}/recipients?status=responded").get_json()
    assert [r["name"] for r in responded["recipients"]] == ["P0"]
    unreachable = hr.get(f"/rollouts/{created['id']}/recipients?status=unreachable")
    assert unreachable.get_json()["recipients"][0]["reason"] == "no address on web"
    listed = hr.get(f"/sessions/{session['id']}/rollouts").get_json()
    assert [r["id"] for r in listed["rollouts"]] == [created["id"]]
    assert hr.get(f"/rollouts/{created['id']}/recipients?status=nope").status_code == 400


def test_an_aggregated_sessions_rollout_counts_who_took_part_but_never_says_who(hr):
    """Its recipients show how each invite travelled, never "responded" (nor a filter for
    it, nor one whose complement would say it); only the counts say how many took part.
    Its invites list carries no person at all."""
    session = make_session(hr, anonymity="aggregated")
    for i in range(3):
        add_person(f"P{i}", email=f"p{i}@example.com")
    created = hr.post(f"/sessions/{session['id']}/rollouts", {
        "audience": {"match": "all", "conditions": []}, "channels": ["web"],
        "respect_quiet_hours": False}).get_json()
    run_jobs()
    takes_part("P0")
    got = hr.get(f"/rollouts/{created['id']}").get_json()
    assert got["counts"]["responded"] == 1 and got["counts"]["sent"] == 2
    assert {r["name"]: r["status"] for r in got["recipients"]} == {
        "P0": "sent", "P1": "sent", "P2": "sent"}
    assert not any("invite_id" in r for r in got["recipients"])  # no join to the invites
    refused = hr.get(f"/rollouts/{created['id']}/recipients?status=responded")
    assert refused.status_code == 400 and "aggregated" in refused.get_json()["error"]["message"]
    sent = hr.get(f"/rollouts/{created['id']}/recipients?status=sent").get_json()
    assert sorted(r["name"] for r in sent["recipients"]) == ["P0", "P1", "P2"]
    invited = hr.get(f"/sessions/{session['id']}/invites").get_json()["invites"]
    assert invited and all(set(i) >= {"status"} and not {"person_id", "name", "email"} & set(i)
                           for i in invited)


def test_rollout_api_rejects_what_it_cannot_do(hr):
    session = make_session(hr)
    url = f"/sessions/{session['id']}/rollouts"
    resp = hr.post(url, {"channels": ["slack", "web"]})
    assert resp.status_code == 400 and "'slack' is not configured" in resp.get_json()["error"][
        "message"]
    assert hr.post(url, {"channels": []}).status_code == 400
    assert hr.post(url, {"channels": ["web", "web"]}).status_code == 400
    assert hr.post(url, {"channels": ["web"], "local_time": "25:00"}).status_code == 400
    assert hr.post(url, {"channels": ["web"],
                         "reminders": {"after_days": [1, 2, 3, 4, 5, 6]}}).status_code == 400
    assert hr.post(url, {"channels": ["web"], "working_days": ["someday"]}).status_code == 400
    assert hr.post("/sessions/999/rollouts", {"channels": ["web"]}).status_code == 404
    assert hr.get("/rollouts/999").status_code == 404
    for year in ("0001", "9999"):
        resp = hr.post(url, {"channels": ["web"], "send_at": f"{year}-12-31T23:00:00-05:00"})
        assert resp.status_code == 400 and "send_at" in resp.get_json()["error"]["message"]
    rid = new_rollout(session["id"], now=MONDAY)
    assert hr.get(f"/rollouts/{rid}/recipients?cursor={'f' * 40}").status_code == 200


def test_an_email_interview_is_reminded_in_its_thread_as_auto_generated(hr, tmp_path):
    session = make_session(hr)
    add_person("Ada", email="ada@example.com")
    rollout = new_rollout(session["id"], channels=["email"], reminders={"after_days": [2]},
                          now=MONDAY)
    rollouts.dispatch(rollout, now=MONDAY)
    rollouts.dispatch(rollout, now=MONDAY + timedelta(days=2))
    deliver_while_open()
    consent, nudge = mails(tmp_path)
    assert consent["Auto-Submitted"] is None and "Shall we begin?" in consent.get_body(
        ("plain",)).get_content()
    assert nudge["Auto-Submitted"] == "auto-generated"
    assert str(consent["Message-ID"]).strip() in str(nudge["References"])  # one thread
    assert "gentle reminder" in nudge.get_body(("plain",)).get_content()


def test_progress_counts_a_failed_slack_lookup_and_a_response(slack):
    stub, api = slack
    session = make_session(api)
    add_person("Ada", email="ada@example.com")
    add_person("Bob", email="bob@example.com")
    add_person("Zed", email="zed@example.com")  # not in the workspace
    resp = api.post(f"/sessions/{session['id']}/rollouts",
                    {"channels": ["slack"], "respect_quiet_hours": False})
    assert resp.status_code == 201, resp.get_json()
    run_jobs(retries=True)
    with db.session_scope() as s:  # Ada accepts
        ada = s.scalar(select(Interview).join(Person).where(Person.name == "Ada"))
        from core import engine

        engine.transition(ada, "accept")
    got = api.get(f"/rollouts/{resp.get_json()['id']}").get_json()
    assert got["counts"]["responded"] == 1 and got["counts"]["sent"] == 1
    assert got["counts"]["failed"] == 1 and got["percent"] == 100.0
    failed = [r for r in got["recipients"] if r["status"] == "failed"]
    assert [r["name"] for r in failed] == ["Zed"]


def test_someone_reached_on_a_fallback_channel_counts_as_sent(make_app, tmp_path):
    with SlackStub(users={"ada@example.com": "U1"}) as stub:
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_bot_token=BOT_TOKEN, slack_api_base_url=stub.base_url,
                       mail_dir=str(tmp_path / "mail"))
        api = ApiClient(app.test_client(), ADMIN_TOKEN)
        session = make_session(api)
        add_person("Ada", email="ada@example.com")
        add_person("Zed", email="zed@example.com")  # not in the workspace: email instead
        resp = api.post(f"/sessions/{session['id']}/rollouts",
                        {"channels": ["slack", "email"], "respect_quiet_hours": False})
        assert resp.status_code == 201, resp.get_json()
        run_jobs(retries=True)
        got = api.get(f"/rollouts/{resp.get_json()['id']}").get_json()
    assert [m["To"] for m in mails(tmp_path)] == ["zed@example.com"]
    assert got["counts"]["sent"] == 2 and got["counts"]["failed"] == 0


def test_what_fell_due_while_paused_waits_if_it_is_now_their_night(hr):
    session = make_session(hr)
    add_person("Bernd", email="bernd@example.com", tz="Europe/Berlin")
    add_person("Nora", email="nora@example.com", tz="America/New_York")
    rollout = new_rollout(session["id"], send_at=utc(2026, 3, 10), local_time="09:00",
                          reminders={"after_days": [1]}, now=MONDAY)
    with db.session_scope() as s:
        rollouts.pause(s, s.get(Rollout, rollout))
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 10, 13))["invited"] == 0
    with db.session_scope() as s:
        rollouts.resume(s, s.get(Rollout, rollout))
    # resumed at 22:00 in Berlin, 17:00 in New York: Nora's goes now, Bernd's at his 08:00
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 10, 21))["invited"] == 1
    people = recipients(rollout)
    assert people["Nora"].status == "invited"
    assert people["Bernd"].status == "pending" and people["Bernd"].due_at == utc(2026, 3, 11, 7)
    # Nora's reminder is due at 09:00 her time; a dispatcher down until her night waits too
    assert people["Nora"].next_reminder_at == utc(2026, 3, 11, 13)
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 12, 3))["reminded"] == 0  # 23:00 NY
    assert recipients(rollout)["Nora"].next_reminder_at == utc(2026, 3, 12, 12)  # 08:00 EDT
    assert rollouts.dispatch(rollout, now=utc(2026, 3, 12, 12))["reminded"] == 1


def test_the_backlog_is_a_minute_of_the_fastest_channel_so_sending_never_waits_for_dispatch(
        make_app):
    """The dispatcher tops the outbox up every 15 s: a backlog of a minute of sends keeps a
    20/s Slack workspace busy between ticks, and a 1/s SMS sender's stays small."""
    make_app(slack_workspace_rate=20.0, twilio_rate=1.0)
    assert rollouts.backlog_for(["slack", "sms"]) == 1200
    assert rollouts.backlog_for(["sms"]) == rollouts.BACKLOG


def test_a_dispatch_steps_aside_for_replies_once_the_next_tick_is_covered(hr):
    """Replies waiting for a worker stop a dispatch between batches, but only once what it
    queued covers the channels until the next tick (25 s of 10 emails/s here); a backlog
    short of that is filled first, and the rest comes with the next dispatch."""
    session = make_session(hr)
    with db.session_scope() as s:
        for i in range(300):
            directory.upsert(s, {"name": f"P{i}", "email": f"p{i}@example.com",
                                 "timezone": "UTC"})
    rollout = new_rollout(session["id"], now=MONDAY)
    jobs.enqueue_once("core.jobs.ping", job_id="a-reply-waiting")
    assert jobs.replies_waiting()
    assert rollouts.dispatch(rollout, now=MONDAY, batch=50, backlog=300)["invited"] == 250
    jobs.queue(jobs.INTERACTIVE).empty()
    assert rollouts.dispatch(rollout, now=MONDAY, batch=50, backlog=300)["invited"] == 50
    assert set(invites_per_person().values()) == {1} and len(invites_per_person()) == 300


def test_the_dispatcher_goes_to_the_head_of_the_bulk_queue(hr):
    """Behind the sends it queued last time, the dispatcher would top the backlog up only
    once the channel had run dry."""
    session = make_session(hr)
    add_person("Ada", email="ada@example.com")
    rollout = new_rollout(session["id"], now=MONDAY)
    jobs.enqueue_once("core.jobs.ping", job_id="out-queued-earlier", queue_name=jobs.BULK)
    rollouts.enqueue(rollout)
    assert jobs.queue(jobs.BULK).job_ids == [jobs.job_key("rollout", rollout),
                                             "out-queued-earlier"]
