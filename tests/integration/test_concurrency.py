"""Changes to one interview happen one after the other on fresh state, and a model that
takes its time holds up nobody else (DESIGN.md §4; issue 8, items 6 and 9).

Real workers on threads, a real database and Redis; the only double is the loopback model,
which holds a request until the test has arranged the race."""

from datetime import timedelta

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import select, update

from core import db, jobs
from core.interviewer import prompts
from core.models import InboundEvent, Interview, Turn, utcnow
from scheduler.jobs import tick_pauses
from tests.conftest import ADMIN_TOKEN
from tests.support.chat import WebChat
from tests.support.concurrency import GatedOpenAI, start_worker, wait_until
from tests.support.factories import ApiClient, invite, make_session, token_of
from tests.support.worker import run_jobs

ANSWERS = (
    "Honestly the people here are what keep me going, and I like that I can choose how "
    "to solve problems without being micromanaged by anyone at all.",
    "I would love a clearer path to a senior role, with a mentor and a plan for the next "
    "two years, because right now I am guessing what is expected of me.",
)


@pytest.fixture
def world(make_app):
    """The app with the LLM interviewer pointed at a gated loopback model."""
    def build(marker: str = ""):
        stub = GatedOpenAI(marker).__enter__()
        built.append(stub)
        app = make_app(library=True, openai_api_key="sk-test", openai_base_url=stub.base_url,
                       openai_timeout=30)
        client = app.test_client()
        return stub, client, ApiClient(client, ADMIN_TOKEN)

    built: list[GatedOpenAI] = []
    yield build
    for stub in built:
        stub.release()
        stub.__exit__(None, None, None)


def started_interview(client, api, email="ada@example.com") -> tuple[WebChat, str, int]:
    session = make_session(api)
    token = token_of(invite(api, session["id"], email=email)["link"])
    chat = WebChat(client, token).open().choose("accept")
    assert chat.status == "in_progress"
    with db.session_scope() as s:
        interview_id = s.scalar(select(Interview.id).order_by(Interview.id.desc()))
    return chat, token, interview_id


def post(client, token: str, text: str, client_id: str) -> None:
    resp = client.post(f"/c/{token}/messages", json={"text": text, "client_id": client_id})
    assert resp.status_code == 202, resp.get_json()


def turns(interview_id: int) -> list[Turn]:
    with db.session_scope() as s:
        return list(s.scalars(select(Turn).where(Turn.interview_id == interview_id)
                              .order_by(Turn.seq)))


def all_taken(ids: list[str]) -> bool:
    """Each message taken by a worker: running (the later one waits on the interview's lock),
    or, when the later one reached the lock first, handed back (Busy) for RQ to retry."""
    taken = (JobStatus.STARTED, JobStatus.SCHEDULED)
    return all(Job.fetch(i, connection=jobs.connection()).get_status() in taken for i in ids)


def test_two_answers_at_once_are_handled_one_after_the_other(world):
    """Item 6: a fast typist's two answers, taken by two workers at the same moment."""
    stub, client, api = world()
    _, token, interview_id = started_interview(client, api)
    stub.arm()  # from here on the model answers only when released
    post(client, token, ANSWERS[0], "a1")
    post(client, token, ANSWERS[1], "a2")
    job_ids = jobs.queue().get_job_ids()
    assert len(job_ids) == 2

    workers = [start_worker(), start_worker()]
    assert stub.entered.wait(30), "no worker reached the model"
    wait_until(lambda: all_taken(job_ids), "both workers to take a message")
    stub.release()
    for worker in workers:
        worker.join(60)
    # a message that waited past LOCK_WAIT was handed back to RQ for a retry, as in production
    run_jobs(retries=True)

    said = turns(interview_id)
    answers = [t.text for t in said if t.role == "participant"][1:]  # after "accept"
    assert sorted(answers) == sorted(ANSWERS)
    asked = [(t.reasoning["action"], t.topic) for t in said if t.role == "interviewer"]
    assert len(asked) == 3 and len(set(asked)) == 3, asked  # no question asked twice
    with db.session_scope() as s:
        coverage = s.get(Interview, interview_id).coverage
    assert coverage["asked"] == 3 and len(coverage["questions"]) == 3
    statuses = [t["status"] for t in coverage["topics"].values()]
    assert statuses.count("done") == 2 and statuses.count("open") == 1
    assert [t.role for t in said[-4:]] == ["participant", "interviewer"] * 2


def test_the_pause_tick_leaves_an_interview_alone_while_it_resumes(world):
    """Item 6: tick_pauses would expire the pause just as the person comes back."""
    stub, client, api = world(marker="back from my break")
    chat, token, interview_id = started_interview(client, api)
    chat.choose("pause")
    assert chat.status == "paused"
    with db.session_scope() as s:  # the pause has run past its expiry
        s.execute(update(Interview).values(paused_at=utcnow() - timedelta(hours=2)))
    stub.arm()
    post(client, token, "I am back from my break: " + ANSWERS[0], "b1")
    worker = start_worker()
    assert stub.entered.wait(30), "the resume did not reach the model"

    tick_pauses()  # the clock fires while the answer is being worded
    stub.release()
    worker.join(60)
    tick_pauses()

    with db.session_scope() as s:
        interview = s.get(Interview, interview_id)
        assert interview.state == "in_progress" and interview.ended_at is None
    said = turns(interview_id)
    assert prompts.PAUSE_EXPIRED not in [t.text for t in said]
    assert said[-2].role == "participant" and said[-1].role == "interviewer"
    assert said[-1].reasoning["action"] == "ask"


def test_a_slow_model_holds_up_no_other_interview(world):
    """Item 9: while the model words one reply, another person's message is handled to
    completion by a second worker (on SQLite the model call used to hold the write lock)."""
    stub, client, api = world(marker="slowly-considered")
    _, slow_token, slow_id = started_interview(client, api)
    other, _, _ = started_interview(client, api, email="bo@example.com")
    stub.arm()
    post(client, slow_token, "A slowly-considered answer: " + ANSWERS[0], "s1")
    worker = start_worker()
    assert stub.entered.wait(30), "the first answer did not reach the model"

    other.say(ANSWERS[1])  # posts and runs a second, in-process worker to completion
    assert other.replies and other.replies[-1]["role"] == "interviewer"
    with db.session_scope() as s:  # ... while the first is still with the model
        assert s.scalar(select(InboundEvent.status)
                        .where(InboundEvent.event_id.endswith(":s1"))) == "pending"
    assert turns(slow_id)[-1].role == "interviewer" and len(stub.held) == 1
    assert [t.role for t in turns(slow_id)].count("participant") == 1  # only "accept"

    stub.release()
    worker.join(60)
    run_jobs()
    said = turns(slow_id)
    assert said[-2].text.startswith("A slowly-considered") and said[-1].role == "interviewer"


def test_a_message_that_found_its_interview_busy_keeps_its_place(client, api, library):
    """A fast typist's first message met a busy interview and waits for its retry; the
    second must not be taken as the answer to the question the first one answers."""
    from channels.durable import enqueue_inbound

    session = make_session(api)
    token = token_of(invite(api, session["id"])["link"])
    chat = WebChat(client, token).open().choose("accept")
    assert chat.status == "in_progress"
    post(client, token, ANSWERS[0], "first")
    with db.session_scope() as s:  # as its busy first attempt left it: counted, linked, waiting
        first = s.scalar(select(InboundEvent).where(InboundEvent.event_id.endswith(":first")))
        first.attempts, first.interview_id = 1, s.scalar(select(Interview.id))
        Job.fetch(jobs.job_key("in", "web", first.event_id), connection=jobs.connection()).delete()
    post(client, token, ANSWERS[1], "second")
    run_jobs()
    with db.session_scope() as s:
        events = {e.event_id.rsplit(":", 1)[1]: e for e in s.scalars(select(InboundEvent))
                  if ":" in e.event_id}
        assert events["second"].status == "pending" and events["second"].attempts == 0
    enqueue_inbound("web", f"{events['first'].event_id}")
    run_jobs(retries=True)
    interview_id = chat.interview
    said = [t.text for t in turns(interview_id) if t.role == "participant"]
    assert said[-2:] == [ANSWERS[0], ANSWERS[1]]
