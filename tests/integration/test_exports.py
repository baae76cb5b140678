"""Exports: one interview as JSON or a PDF transcript; bulk CSV, JSON lines and ZIP through
the real bulk queue and worker; the download link and its expiry; the audit log; and what
an aggregated session's exports never carry (identity, ids, times, anything below its
threshold). Real database and Redis; PDFs are read back with pypdf."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, update

from core import db, exports
from core.models import AuditLog, Export, ExportFile, Interview
from core.privacy import NOT_ADDRESSABLE
from tests.integration.test_api import complete_interview, ok
from tests.support.factories import completed_interviews, make_session

UNICODE = "Zoë — naïve 😀 日本"
NAMED = [("Ada Lovelace", "ada@example.com"), ("Grace Hopper", "grace@example.com"),
         ("Zoë Ångström", "zoe@example.com")]
ANONYMOUS = [("Ximena Quarshie", "ximena.q@pulse.example"),
             ("Yusuf Okonkwo", "yusuf.o@pulse.example"),
             ("Wilhelmina Zapata", "wilhelmina.z@pulse.example"),
             ("Thaddeus Vukovic", "thaddeus.v@pulse.example")]
ANSWER = ("Workload has been heavy this month but the team shares it fairly, and I like "
          "that priorities are explained before they change.")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def people(spec):
    return [{"name": n, "email": e, "answers": [
        ("workload", ANSWER, False),
        ("growth", "I want to grow into a lead role and my manager Ximena backs it.", False)]}
        for n, e in spec]


@pytest.fixture
def data(api, library):
    """A named session (three interviews, one by Zoë in Unicode, each on a channel) and an
    aggregated one with threshold 3 and four completed interviews (three released)."""
    named = make_session(api, tags=["q4"])
    anon = make_session(api, "engagement-pulse", settings={"anonymity_threshold": 3},
                        tags=["q4"])
    assert anon["anonymity"] == "aggregated"
    specs = people(NAMED)
    specs[2]["answers"][0] = ("workload", UNICODE + " — the rota is fair.", False)
    named_ids = completed_interviews(named["id"], specs,
                                     start=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    anon_ids = completed_interviews(anon["id"], people(ANONYMOUS),
                                    start=datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    with db.session_scope() as s:  # as the engine scores them; one on SMS, one abandoned
        s.execute(update(Interview).values(sentiment=0.42, engagement=71.5))
        s.execute(update(Interview).where(Interview.id == named_ids[1]).values(channel="sms"))
        s.execute(update(Interview).where(Interview.id == named_ids[0])
                  .values(state="abandoned"))
    return {"named": named, "anon": anon, "named_ids": named_ids, "anon_ids": anon_ids}


def bulk(api, work, fmt: str, **filters) -> tuple[dict, bytes]:
    """Ask for an export, run the worker, download it: (its final status, the file)."""
    resp = api.post("/exports", {"format": fmt, "filters": filters})
    started = ok(resp, 202)
    assert started["status"] == "queued" and resp.headers["Location"] == started["status_url"]
    work()
    done = ok(api.get(f"/exports/{started['id']}"))
    assert done["status"] == "ready", done
    assert done["progress"]["done"] == done["progress"]["total"]
    got = api.get(done["download_url"].removeprefix("/api/v1"))
    assert got.status_code == 200, got.get_json()
    assert got.headers["Content-Type"].startswith(exports.MEDIA_TYPES[fmt].split(";")[0])
    return done, got.data


def rows_of(data: bytes) -> list[dict]:
    reader = csv.reader(io.StringIO(data.decode()))
    header = next(reader)
    assert header == list(exports.CSV_COLUMNS)
    return [dict(zip(header, row, strict=True)) for row in reader]


def forbidden_in_anonymous(data) -> list[str]:
    """Everything that would name or date someone in an aggregated session's export."""
    words = [n for name, _ in ANONYMOUS for n in name.split()] + [e for _, e in ANONYMOUS]
    words += [f"/interviews/{i}/" for i in data["anon_ids"]]
    with db.session_scope() as s:
        for i in s.scalars(select(Interview).where(Interview.id.in_(data["anon_ids"]))):
            words += [i.started_at.isoformat(), i.ended_at.isoformat()]
    return words


# ---- one interview -------------------------------------------------------------------------

def test_one_interview_as_a_pdf_has_its_header_turns_and_any_unicode(api, data):
    zoe = data["named_ids"][2]
    resp = api.get(f"/interviews/{zoe}/export?format=pdf")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/pdf"
    assert f'interview-{zoe}.pdf' in resp.headers["Content-Disposition"]
    text = pdf_text(resp.data)
    for expected in ("Interview transcript", data["named"]["name"], "Stay Interview",
                     "Zoë Ångström", "zoe@example.com", "web", "2026-11-02T10:00:00",
                     "2026-11-02T10:12:00", "completed", "Participant", "Interviewer",
                     "Zoë — naïve", "topic: workload", "sentiment"):
        assert expected in text, (expected, text)
    assert "日本" not in text  # no glyph in the font: drawn as U+FFFD, not a crash


def test_one_interview_as_json_has_turns_reasoning_metadata_and_analytics(
        api, client, library):
    session = make_session(api)
    complete_interview(api, client, session["id"])
    [listed] = ok(api.get(f"/sessions/{session['id']}/interviews"))["interviews"]
    resp = api.get(f"/interviews/{listed['id']}/export")
    assert resp.headers["Content-Type"] == "application/json"
    doc = json.loads(resp.data)
    meta = doc["metadata"]
    assert meta["person"]["email"] == "done@example.com"
    assert meta["session_name"] == session["name"] and meta["session_type"] == "Stay Interview"
    assert meta["status"] == "completed" and meta["channels"] == ["web"]
    assert meta["started_at"] and meta["completed_at"] and meta["duration_seconds"] is not None
    assert doc["analytics"]["answers"] > 0
    roles = {t["role"] for t in doc["turns"]}
    assert {"interviewer", "participant"} <= roles
    for turn in doc["turns"]:
        assert {"seq", "role", "text", "redacted_text", "topic", "sentiment", "channel",
                "created_at"} <= set(turn)
        assert ("reasoning" in turn) == (turn["role"] == "interviewer")
    assert any(t.get("reasoning") for t in doc["turns"])
    assert any(t["sentiment"] is not None for t in doc["turns"] if t["role"] == "participant")
    assert ok(api.get(f"/interviews/{listed['id']}/export?format=json")) == doc


def test_an_aggregated_sessions_interview_is_404_like_an_unknown_one(api, data):
    for fmt in ("json", "pdf"):
        resp = api.get(f"/interviews/{data['anon_ids'][0]}/export?format={fmt}")
        assert resp.status_code == 404
        assert resp.get_json()["error"]["message"] == NOT_ADDRESSABLE.format(
            id=data["anon_ids"][0])
    assert api.get("/interviews/999999/export").status_code == 404


def test_an_unknown_interview_format_is_400(api, data):
    resp = api.get(f"/interviews/{data['named_ids'][0]}/export?format=docx")
    assert resp.status_code == 400 and "json or pdf" in resp.get_json()["error"]["message"]


# ---- bulk --------------------------------------------------------------------------------

def test_bulk_csv_has_the_columns_and_a_row_per_interview(api, work, data):
    status, body = bulk(api, work, "csv")
    rows = rows_of(body)
    named = [r for r in rows if r["session_id"] == str(data["named"]["id"])]
    anon = [r for r in rows if r["session_id"] == str(data["anon"]["id"])]
    assert len(named) == 3 and len(anon) == 3  # four completed, released in threes
    assert status["progress"] == {"done": 6, "total": 6}
    assert [r["transcript_url"] for r in named] == [
        f"http://parley.test/api/v1/interviews/{i}/export?format=pdf" for i in data["named_ids"]]
    assert named[1]["campaign"] == data["named"]["name"]
    assert named[1]["started_at"] == "2026-11-02T09:30:00+00:00"
    assert named[1]["completed_at"] == "2026-11-02T09:42:00+00:00"
    assert named[0]["status"] == "abandoned" and named[0]["completed_at"] == ""
    assert all(r["sentiment"] for r in rows)
    for row in anon:
        assert row["transcript_url"] == row["started_at"] == row["completed_at"] == ""
        assert row["status"] == "completed"
    assert status["withheld"] == [{"session_id": data["anon"]["id"], "reason": status[
        "withheld"][0]["reason"]}] and "released 3 at a time" in status["withheld"][0]["reason"]


@pytest.mark.parametrize("filters, expect", [
    ({"session_id": "named"}, {"named": [0, 1, 2], "anon": 0}),
    ({"session_id": "anon"}, {"named": [], "anon": 3}),
    ({"status": "completed"}, {"named": [1, 2], "anon": 3}),
    ({"status": "abandoned"}, {"named": [0], "anon": 0}),
    ({"channel": "sms"}, {"named": [1], "anon": 3}),  # an anonymous session is never sliced
    ({"from": "2026-11-02T09:15:00Z", "to": "2026-11-02T10:00:00+00:00"},
     {"named": [1], "anon": 3}),
    ({"tag": "q4"}, {"named": [0, 1, 2], "anon": 3}),
    ({"tag": "q1"}, {"named": [], "anon": 0}),
])
def test_bulk_filters(api, work, data, filters, expect):
    if "session_id" in filters:
        filters = {"session_id": data[filters["session_id"]]["id"]}
    _, body = bulk(api, work, "csv", **filters)
    rows = rows_of(body)
    urls = [r["transcript_url"] for r in rows if r["transcript_url"]]
    assert urls == [exports.transcript_url(data["named_ids"][n]) for n in expect["named"]]
    assert len(rows) - len(urls) == expect["anon"]


def test_bulk_jsonl_is_the_per_interview_json_a_line_each(api, work, data):
    _, body = bulk(api, work, "jsonl", session_id=data["named"]["id"])
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [d["metadata"]["interview_id"] for d in lines] == data["named_ids"]
    for doc, interview_id in zip(lines, data["named_ids"], strict=True):
        assert doc == ok(api.get(f"/interviews/{interview_id}/export"))
    assert UNICODE in body.decode()


def test_bulk_zip_has_a_pdf_per_named_interview_and_one_anonymous_document(api, work, data):
    _, body = bulk(api, work, "zip")
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = archive.namelist()
    named = [n for n in names if f"-{data['named']['id']}/" in n]
    assert sorted(named) == sorted(
        f"stay-interview-test-{data['named']['id']}/interview-{i}-{slug}.pdf"
        for i, slug in zip(data["named_ids"], ["ada-lovelace", "grace-hopper",
                                               "zoe-angstrom"], strict=True))
    assert "Grace Hopper" in pdf_text(archive.read(named[1]))
    [anon] = [n for n in names if n not in named]
    assert anon == f"engagement-pulse-test-{data['anon']['id']}/anonymous-answers-001.pdf"
    text = pdf_text(archive.read(anon))
    assert text.count("Response ") == 3 and "Workload has been heavy" in text
    assert "released 3 at a time" in " ".join(text.split())


# ---- anonymity -----------------------------------------------------------------------------

def test_an_aggregated_sessions_exports_carry_no_identity_ids_or_times(api, work, data):
    forbidden = forbidden_in_anonymous(data)
    anon = data["anon"]["id"]
    _, csv_body = bulk(api, work, "csv", session_id=anon)
    _, jsonl_body = bulk(api, work, "jsonl", session_id=anon)
    _, zip_body = bulk(api, work, "zip", session_id=anon)
    archive = zipfile.ZipFile(io.BytesIO(zip_body))
    texts = {"csv": csv_body.decode(), "jsonl": jsonl_body.decode(),
             "zip names": " ".join(archive.namelist()),
             "zip": " ".join(pdf_text(archive.read(n)) for n in archive.namelist())}
    for kind, text in texts.items():
        leaked = [w for w in forbidden if w in text]
        assert not leaked, (kind, leaked)
    assert "Ximena backs it" not in texts["jsonl"] and "[name] backs it" in texts["jsonl"]
    for line in jsonl_body.decode().splitlines():
        doc = json.loads(line)
        assert not {"interview_id", "invite_id", "person", "channels", "started_at",
                    "completed_at", "ended_at", "created_at", "transcript_url"} & set(
            doc["metadata"])
        assert all(set(t) <= {"seq", "role", "text", "topic", "sentiment", "ref"}
                   for t in doc["turns"])
        assert not {"channel", "channels", "computed_at"} & set(doc["analytics"])
    assert len(rows_of(csv_body)) == 3 and len(archive.namelist()) == 1


def test_nothing_of_an_aggregated_session_below_its_threshold(api, work, data):
    with db.session_scope() as s:  # two of four completed: below the threshold of 3
        s.execute(update(Interview).where(Interview.id.in_(data["anon_ids"][:2]))
                  .values(state="abandoned"))
    anon = data["anon"]["id"]
    status, csv_body = bulk(api, work, "csv", session_id=anon)
    assert rows_of(csv_body) == []
    assert "shown once at least 3" in status["withheld"][0]["reason"]
    assert bulk(api, work, "jsonl", session_id=anon)[1] == b""
    assert zipfile.ZipFile(io.BytesIO(bulk(api, work, "zip", session_id=anon)[1])).namelist() \
        == []


def test_without_identity_a_named_session_is_exported_as_an_aggregated_one(api, work, data):
    """The analyst's restriction: only the sessions given, and no named transcript."""
    with db.session_scope() as s:
        export = exports.request(s, "jsonl", exports.Filters(),
                                 session_ids={data["named"]["id"]}, identity=False,
                                 actor="analyst")
        export_id = export.id
    assert exports.run(export_id) == "ready"
    body = b"".join(exports.chunks(export_id)).decode()
    docs = [json.loads(line) for line in body.splitlines()]
    assert len(docs) == 0  # two completed, below the named session's threshold of 5
    with db.session_scope() as s:
        assert s.get(Export, export_id).withheld[0]["session_id"] == data["named"]["id"]
        assert exports.readable(s, data["named_ids"][1], session_ids=None,
                                identity=False) is None
        assert exports.readable(s, data["named_ids"][1], session_ids={data["anon"]["id"]},
                                identity=True) is None
        assert exports.readable(s, data["named_ids"][1], session_ids=None,
                                identity=True) is not None
    with db.session_scope() as s:  # and only the sessions given
        found = exports.plan(s, exports.Filters(), session_ids={data["anon"]["id"]},
                             identity=True)
    assert found.named == [] and [sid for sid, _ in found.anonymous] == [data["anon"]["id"]]


# ---- the job, the link, the audit log --------------------------------------------------------

def test_the_job_runs_once(api, work, data):
    status, body = bulk(api, work, "csv")
    assert exports.run(status["id"]) == "ready"  # a duplicate run finds it done
    exports.enqueue(status["id"])
    work()
    assert api.get(status["download_url"].removeprefix("/api/v1")).data == body


def test_an_expired_link_is_410_and_prune_drops_the_file(api, work, data):
    status, _ = bulk(api, work, "csv")
    with db.session_scope() as s:
        s.execute(update(Export).where(Export.id == status["id"]).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    resp = api.get(status["download_url"].removeprefix("/api/v1"))
    assert resp.status_code == 410 and "expired" in resp.get_json()["error"]["message"]
    again = ok(api.get(f"/exports/{status['id']}"))
    assert again["status"] == "expired" and "download_url" not in again
    assert exports.prune() == 1
    with db.session_scope() as s:
        assert s.get(Export, status["id"]).status == "expired"
        assert s.scalar(select(func.count()).select_from(ExportFile)) == 0
    assert api.get(status["download_url"].removeprefix("/api/v1")).status_code == 410


def test_a_forged_or_mangled_link_is_404(api, work, data):
    status, _ = bulk(api, work, "csv")
    url = status["download_url"].removeprefix("/api/v1")
    for bad in (url[:-2], url + "x", "/exports/download/not-a-token",
                "/exports/download/" + "a" * 300):
        resp = api.get(bad)
        assert resp.status_code == 404, (bad, resp.status_code)
        assert resp.get_json()["error"]["code"] == "not_found"


def test_an_unknown_export_is_404(api, app):
    assert api.get("/exports/999999").status_code == 404


@pytest.mark.parametrize("payload, status, says", [
    ({"format": "xlsx"}, 400, "format"),
    ({"format": "csv", "filters": {"status": "finished"}}, 400, "filters.status"),
    ({"format": "csv", "filters": {"channel": "fax"}}, 400, "filters.channel"),
    ({"format": "csv", "filters": {"from": "yesterday"}}, 400, "filters.from"),
    ({"format": "csv", "filters": {"session": 3}}, 400, "filters.session"),
    ({"format": "csv", "filters": {"session_id": 0}}, 400, "filters.session_id"),
    ({"format": "csv", "filters": {"from": "2026-11-02T00:00:00Z",
                                   "to": "2026-11-01T00:00:00Z"}}, 422, "from must be before"),
])
def test_bad_filters_are_refused_with_a_reason(api, app, payload, status, says):
    resp = api.post("/exports", payload)
    assert resp.status_code == status, resp.get_json()
    assert says in resp.get_json()["error"]["message"]
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Export)) == 0


def test_every_export_is_in_the_audit_log(api, work, data):
    status, _ = bulk(api, work, "zip", status="completed", tag="q4")
    api.get(f"/interviews/{data['named_ids'][1]}/export?format=pdf")
    api.get(f"/sessions/{data['named']['id']}")  # not an export
    with db.session_scope() as s:
        rows = {r.action: r for r in s.scalars(select(AuditLog))}
    assert rows["export.request"].detail == {"format": "zip", "filters": {
        "status": "completed", "tag": "q4"}}
    assert rows["export.request"].target_id == status["id"]
    assert rows["export.download"].target_id == status["id"]
    assert (rows["export.interview"].target_id, rows["export.interview"].detail) == (
        data["named_ids"][1], {"format": "pdf"})
    listed = ok(api.get("/audit?action=export."))
    assert [e["action"] for e in listed["audit"]] == [
        "export.interview", "export.download", "export.request"]
    assert all(e["actor"] == "admin-token" and e["at"] for e in listed["audit"])
    first = ok(api.get("/audit?action=export.&limit=2"))
    assert len(first["audit"]) == 2 and first["next"]
    rest = ok(api.get(first["next"].removeprefix("/api/v1")))
    assert [e["action"] for e in rest["audit"]] == ["export.request"]


def test_the_scheduler_prunes_expired_exports_on_the_queue(api, work, data, tmp_path):
    from core.config import load_settings
    from scheduler.__main__ import _enqueue, schedule

    every = schedule(load_settings(var_dir=tmp_path))["scheduler.jobs.prune_exports"]
    status, _ = bulk(api, work, "jsonl")
    with db.session_scope() as s:
        s.execute(update(Export).where(Export.id == status["id"]).values(
            expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    _enqueue("scheduler.jobs.prune_exports", every)
    work()
    with db.session_scope() as s:
        assert s.get(Export, status["id"]).status == "expired"
        assert s.scalar(select(func.count()).select_from(ExportFile)) == 0


def test_progress_is_reported_per_batch(data):
    with db.session_scope() as s:
        found = exports.plan(s, exports.Filters(), session_ids=None, identity=True)
    seen: list[int] = []
    out = io.BytesIO()
    exports.build("csv", found, out, progress=seen.append)
    assert found.total == 6 and seen == [3, 6]  # the named batch, then the anonymous one
    assert len(rows_of(out.getvalue())) == 6


def test_deleting_an_interview_drops_every_export_file(api, work, data):
    """What a person said lives where a delete finds it: an export's copy goes too."""
    status, body = bulk(api, work, "jsonl")
    assert b"I want to grow into a lead role" in body
    assert api.delete(f"/interviews/{data['named_ids'][1]}").status_code == 204
    resp = api.get(status["download_url"].removeprefix("/api/v1"))
    assert resp.status_code == 410
    assert resp.get_json()["error"]["message"] == exports.DROPPED
    after = ok(api.get(f"/exports/{status['id']}"))
    assert (after["status"], after["error"]) == ("expired", exports.DROPPED)
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(ExportFile)) == 0


def test_an_export_running_when_an_interview_is_deleted_fails_without_a_file(api, data):
    queued = ok(api.post("/exports", {"format": "csv"}), 202)
    with db.session_scope() as s:  # as if the job had claimed it
        s.execute(update(Export).where(Export.id == queued["id"]).values(status="running"))
    assert api.delete(f"/interviews/{data['named_ids'][1]}").status_code == 204
    out = io.BytesIO(b"a file built before the delete")
    exports._store(queued["id"], out)  # the job finishing after it: nothing is kept
    after = ok(api.get(f"/exports/{queued['id']}"))
    assert (after["status"], after["error"]) == ("failed", exports.DROPPED)
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(ExportFile)) == 0


# ---- who may export what --------------------------------------------------------------------

def test_an_analysts_export_names_no_one_and_a_members_holds_only_their_sessions(
        api, work, data):
    from tests.support.factories import user_client

    analyst = user_client(api, "analyst", "ana@hr.example")
    _, body = bulk(analyst, work, "jsonl")
    assert f'"session_id": {data["named"]["id"]}' not in body.decode()  # 2 of 5: withheld
    more = [("Hedy Lamarr", "hedy@example.com"), ("Alan Turing", "alan@example.com"),
            ("Edsger Dijkstra", "edsger@example.com")]
    completed_interviews(data["named"]["id"], people(more),
                         start=datetime(2026, 11, 4, 9, 0, tzinfo=UTC))
    _, body = bulk(analyst, work, "jsonl")
    docs = [json.loads(line) for line in body.decode().splitlines()]
    named = [d for d in docs if d["metadata"].get("session_id") == data["named"]["id"]
             or d["metadata"].get("session_name") == data["named"]["name"]]
    assert len(named) == 5  # now released, as an aggregated session's batch would be
    text = body.decode()
    for name, email in NAMED + ANONYMOUS + more:
        assert email not in text and name.split()[-1] not in text, name
    for interview_id in data["named_ids"]:
        assert f"/interviews/{interview_id}/" not in text
    assert analyst.get(f"/interviews/{data['named_ids'][1]}/export").status_code == 403

    member = user_client(api, "member", "mem@hr.example")
    theirs = make_session(member, name="Their own")
    done, body = bulk(member, work, "csv")
    assert rows_of(body) == []  # nothing of the admin's sessions
    assert member.get(f"/interviews/{data['named_ids'][1]}/export").status_code == 404
    # an export is its requester's: another member's status and file answer 404
    other = user_client(api, "member", "other@hr.example")
    assert other.get(f"/exports/{done['id']}").status_code == 404
    assert other.get(done["download_url"].removeprefix("/api/v1")).status_code == 404
    assert api.get(f"/exports/{done['id']}").status_code == 200  # an owner sees any
    assert theirs["owner_user_id"] == member.user["id"]
