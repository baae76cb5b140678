"""Exports: one interview as JSON or a PDF transcript, and bulk exports (CSV, JSON lines, a
ZIP of PDFs) built by a background job and kept in the database until their link expires.

Every document passes the anonymity rule (``core.privacy``, DESIGN.md §6). A named
session's interviews carry who, where and when. An aggregated session's carry none of it:
no person, interview id, invite, channel or exact time; the participant's words redacted and
without the directory's names; and only its released interviews (whole batches of its
threshold, in an order keyed by a secret, as its interview list), nothing at all below the
threshold. An aggregated session is exported whole or not at all: the time and channel
filters never slice it (a slice could hold fewer answers than the threshold).

Who may read what is the caller's to say, as two parameters every function here takes:
``session_ids`` (None: every session; otherwise only these) and ``identity`` (False: every
session is treated as aggregated, so the reader never sees a single named transcript).

A bulk export is an ``Export`` row: requested (``request``), built by ``run`` on the bulk
queue (idempotent: claimed once, progress written per batch), its file stored in
``export_file`` pieces so any web process on any machine can serve it (``chunks``), and
dropped by ``prune`` (scheduler) once its link has expired.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session as DB

from core import analytics, jobs, privacy, sessions
from core.config import get_settings
from core.lifecycle import State
from core.models import Export, ExportFile, Interview, Person, Session, Turn, utcnow

log = logging.getLogger(__name__)

FORMATS = ("csv", "jsonl", "zip")
INTERVIEW_FORMATS = ("json", "pdf")
STATUSES = ("queued", "running", "ready", "failed", "expired")
ACTIVE = ("queued", "running")
CSV_COLUMNS = ("session_id", "campaign", "started_at", "completed_at", "duration", "status",
               "transcript_url", "sentiment", "engagement")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson",
               "zip": "application/zip", "json": "application/json", "pdf": "application/pdf"}
TRANSCRIPT_PATH = "/api/v1/interviews/{id}/export?format=pdf"
BATCH = 200  # interviews read (and progress written) at a time
CHUNK = 1 << 20  # bytes per export_file row
ANSWERS_PER_PART = 500  # an anonymous session's answers per PDF of a ZIP
SPOOL = 8 << 20  # bytes a file being built is kept in memory before it goes to a temp file
RUN_TIMEOUT = 3600  # seconds RQ lets one export run
STALE = timedelta(seconds=RUN_TIMEOUT + 300)  # still active after this: its worker died
FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so


class BadFilters(ValueError):
    """Filters that select nothing sensible (``from`` after ``to``)."""


@dataclass(frozen=True)
class Filters:
    """Which interviews a bulk export holds. ``start``/``end`` (the API's ``from``/``to``)
    bound when an interview started: from inclusive, to exclusive."""

    session_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None
    channel: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start >= self.end:
            raise BadFilters("filters: from must be before to")

    def as_json(self) -> dict[str, Any]:
        out = {"session_id": self.session_id, "from": _iso(self.start), "to": _iso(self.end),
               "status": self.status, "channel": self.channel, "tag": self.tag}
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Filters:
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(session_id=data.get("session_id"), start=when(data.get("from")),
                   end=when(data.get("to")), status=data.get("status"),
                   channel=data.get("channel"), tag=data.get("tag"))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def transcript_url(interview_id: int) -> str:
    return get_settings().public_base_url.rstrip("/") + TRANSCRIPT_PATH.format(id=interview_id)


# ---- one interview ----------------------------------------------------------------------

def readable(db: DB, interview_id: int, *, session_ids: Collection[int] | None,
             identity: bool) -> Interview | None:
    """The interview if this reader may export it on its own: a named session's, within
    ``session_ids``, for a reader who may see identity. None otherwise (one answer for all:
    an id must not tell an anonymous interview from a missing one)."""
    interview = db.get(Interview, interview_id)
    if (interview is None or not identity or interview.session.anonymity == "aggregated"
            or (session_ids is not None and interview.session_id not in session_ids)):
        return None
    return interview


def interview_document(db: DB, interview: Interview) -> dict[str, Any]:
    """The per-interview JSON export of an interview ``readable`` returned."""
    turns = _turns(db, [interview.id])[interview.id]
    figures = analytics.for_interviews(db, [interview])
    return document(interview, turns, figures.get(interview.id), anonymous=False)


def interview_pdf(db: DB, interview: Interview) -> bytes:
    from core import pdf  # fpdf2: loaded where a PDF is made, not by every process

    return pdf.transcript(interview_document(db, interview))


def document(interview: Interview, turns: list[Turn], figures: dict[str, Any] | None, *,
             anonymous: bool, secret: str | None = None,
             scrub: Callable[[str], str] | None = None) -> dict[str, Any]:
    """One interview as exported: metadata, turns, analytics. ``anonymous``: as an
    aggregated session's released answer (``privacy.shown``), nothing that leads back."""
    session = interview.session
    duration = figures["duration_seconds"] if figures else None
    meta: dict[str, Any] = {
        "session_id": session.id, "session_name": session.name,
        "session_type": session.session_type.name, "anonymity": session.anonymity,
        "status": interview.state, "duration_seconds": duration,
        "sentiment": interview.sentiment, "engagement": interview.engagement,
    }
    raw = [{"id": t.id, "seq": t.seq, "role": t.role, "text": t.text,
            "redacted_text": t.redacted_text, "topic": t.topic, "sentiment": t.sentiment,
            "channel": t.channel, "reasoning": t.reasoning, "created_at": _iso(t.created_at)}
           for t in turns]
    if anonymous:
        shown = privacy.shown({"turns": raw, "analytics": figures}, anonymity="aggregated",
                              secret=secret, scrub=scrub)
        meta["anonymity"] = "aggregated"
        return {"metadata": meta, "turns": shown["turns"], "analytics": shown["analytics"]}
    channels = list(dict.fromkeys([interview.channel, *(t.channel for t in turns)]))
    meta.update({
        "interview_id": interview.id, "invite_id": interview.invite_id,
        "person": {"id": interview.person.id, "name": interview.person.name,
                   "email": interview.person.email},
        "channels": channels, "created_at": _iso(interview.created_at),
        "started_at": _iso(interview.started_at),
        "completed_at": _iso(interview.ended_at) if interview.state == State.COMPLETED
        else None,
        "ended_at": _iso(interview.ended_at), "end_reason": interview.end_reason,
        "transcript_url": transcript_url(interview.id),
    })
    for turn in raw:
        del turn["id"]
        if turn["role"] != "interviewer":
            del turn["reasoning"]
    return {"metadata": meta, "turns": raw, "analytics": figures}


def _turns(db: DB, ids: list[int]) -> dict[int, list[Turn]]:
    out: dict[int, list[Turn]] = {i: [] for i in ids}
    for turn in db.scalars(select(Turn).where(Turn.interview_id.in_(ids))
                           .order_by(Turn.interview_id, Turn.seq)):
        out[turn.interview_id].append(turn)
    return out


# ---- what a bulk export holds -------------------------------------------------------------

@dataclass
class Plan:
    """The interviews of an export, in order: a named session's by id (with identity), then
    each anonymous session's released ones in its secret order; and why any were withheld."""

    named: list[int] = field(default_factory=list)
    anonymous: list[tuple[int, list[int]]] = field(default_factory=list)
    withheld: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.named) + sum(len(ids) for _, ids in self.anonymous)


def plan(db: DB, filters: Filters, *, session_ids: Collection[int] | None,
         identity: bool) -> Plan:
    chosen = [s for s in db.scalars(select(Session).order_by(Session.id))
              if (session_ids is None or s.id in session_ids)
              and (filters.session_id is None or s.id == filters.session_id)
              and (filters.tag is None or filters.tag in (s.tags or []))]
    out = Plan()
    named = [s.id for s in chosen if identity and s.anonymity != "aggregated"]
    if named:
        stmt = select(Interview.id).where(Interview.session_id.in_(named))
        if filters.status:
            stmt = stmt.where(Interview.state == filters.status)
        if filters.channel:
            stmt = stmt.where(Interview.channel == filters.channel)
        if filters.start:
            stmt = stmt.where(Interview.started_at >= filters.start)
        if filters.end:
            stmt = stmt.where(Interview.started_at < filters.end)
        out.named = list(db.scalars(stmt.order_by(Interview.id)))
    if filters.status not in (None, State.COMPLETED):
        return out  # only completed interviews of an anonymous session are ever shown
    secret = get_settings().secret_key
    for session in chosen:
        if identity and session.anonymity != "aggregated":
            continue
        threshold = sessions.settings_of(session).anonymity_threshold
        completed = db.scalar(select(func.count()).select_from(Interview).where(
            Interview.session_id == session.id, Interview.state == State.COMPLETED)) or 0
        ids = list(db.scalars(
            select(Interview.id).where(Interview.session_id == session.id,
                                       Interview.state == State.COMPLETED)
            .order_by(Interview.ended_at, Interview.id)
            .limit(privacy.released(threshold, completed))))
        if ids:
            out.anonymous.append((session.id, sorted(
                ids, key=lambda i: privacy.listing_key(secret, i))))
        if completed and (reason := privacy.withheld_reason(threshold, completed)):
            out.withheld.append({"session_id": session.id, "reason": reason})
    return out


def documents(ids: list[int], *, anonymous: bool) -> Iterator[list[tuple[Interview, dict]]]:
    """The documents of these interviews, a batch (one transaction) at a time."""
    from core import db as database

    secret = get_settings().secret_key
    for at in range(0, len(ids), BATCH):
        part = ids[at:at + BATCH]
        with database.session_scope() as s:
            rows = {i.id: i for i in s.scalars(select(Interview).where(Interview.id.in_(part)))}
            found = [rows[i] for i in part if i in rows]  # deleted meanwhile: left out
            turns = _turns(s, [i.id for i in found])
            figures = analytics.for_interviews(s, found)
            scrub = (privacy.directory_scrubber(lambda s=s: s.scalars(select(Person.name)))
                     if anonymous else None)
            yield [(i, document(i, turns[i.id], figures.get(i.id), anonymous=anonymous,
                                secret=secret, scrub=scrub)) for i in found]


# ---- building a file ----------------------------------------------------------------------

def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA):
        return "'" + value
    return "" if value is None else value


def csv_row(doc: dict[str, Any]) -> list[Any]:
    meta = doc["metadata"]
    duration = meta.get("duration_seconds")
    return [meta["session_id"], _cell(meta["session_name"]), meta.get("started_at") or "",
            meta.get("completed_at") or "",
            "" if duration is None else round(duration), meta["status"],
            meta.get("transcript_url") or "", _cell(meta.get("sentiment")),
            _cell(meta.get("engagement"))]


def slug(text: str, limit: int = 40) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()[:limit] or "x"


class Writer:
    """One format's file, written a batch of documents at a time into ``out``."""

    def __init__(self, fmt: str, out: IO[bytes]):
        self.fmt, self.out = fmt, out
        self.zip = zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) if fmt == "zip" else None
        self.pending: list[dict[str, Any]] = []  # an anonymous session's, for its document
        self.parts = 0  # documents written of the anonymous session under way
        if fmt == "csv":
            self._csv([list(CSV_COLUMNS)])

    def write(self, batch: list[tuple[Interview, dict[str, Any]]], *, anonymous: bool) -> None:
        """Rows or lines; in a ZIP, a PDF per named interview, and an anonymous session's
        answers kept for the one document of its session (``session_done``)."""
        if self.fmt == "csv":
            self._csv([csv_row(doc) for _, doc in batch])
        elif self.fmt == "jsonl":
            self.out.write("".join(json.dumps(doc, ensure_ascii=False) + "\n"
                                   for _, doc in batch).encode())
        elif anonymous:
            self.pending += [doc for _, doc in batch]
            if len(self.pending) >= ANSWERS_PER_PART:  # never a whole big session in memory
                self._part(batch[0][0].session, None)
        else:
            from core import pdf

            for interview, doc in batch:
                name = (f"{slug(interview.session.name)}-{interview.session_id}/interview-"
                        f"{interview.id}-{slug(interview.person.name)}.pdf")
                self.zip.writestr(name, pdf.transcript(doc))

    def session_done(self, session: Session, withheld: str | None) -> None:
        """A ZIP's documents of an anonymous session's released answers — one, or one per
        ANSWERS_PER_PART answers — never one file per person (a file count, name or date
        would tell whose)."""
        if self.zip is not None and (self.pending or not self.parts):
            self._part(session, withheld)
        self.pending, self.parts = [], 0

    def _part(self, session: Session, withheld: str | None) -> None:
        from core import pdf

        if not self.pending:
            return
        self.parts += 1
        self.zip.writestr(
            f"{slug(session.name)}-{session.id}/anonymous-answers-{self.parts:03d}.pdf",
            pdf.aggregated(self.pending[0]["metadata"], self.pending, withheld,
                           first=(self.parts - 1) * ANSWERS_PER_PART + 1))
        self.pending = []

    def _csv(self, rows: list[list[Any]]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerows(rows)
        self.out.write(text.getvalue().encode())

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


# ---- bulk exports: request, run, read, prune ---------------------------------------------

def request(db: DB, fmt: str, filters: Filters, *, session_ids: Collection[int] | None,
            identity: bool, actor: str) -> Export:
    """A new export, queued (the caller enqueues it after its commit: ``enqueue``)."""
    if fmt not in FORMATS:
        raise ValueError(f"no export format {fmt!r}")
    export = Export(format=fmt, filters=filters.as_json(), identity=identity, actor=actor,
                    session_ids=None if session_ids is None else sorted(session_ids))
    db.add(export)
    db.flush()
    return export


def enqueue(export_id: int) -> None:
    jobs.enqueue_once("core.exports.run", export_id, job_id=jobs.job_key("export", export_id),
                      queue_name=jobs.BULK, job_timeout=RUN_TIMEOUT)


def status_of(export: Export) -> str:
    """``expired`` as soon as the link's time is up, before ``prune`` drops the file."""
    if export.status == "ready" and export.expires_at and export.expires_at <= utcnow():
        return "expired"
    return export.status


def run(export_id: int) -> str:
    """Job: build one export, once. Claimed from queued (a duplicate run finds it taken);
    the file is built in a temporary file, then stored with the status ``ready`` in one
    transaction, so a reader sees a ready export only with its whole file. A failure is
    kept on the row (``failed``), never retried in a loop: HR asks again."""
    from core import db as database

    with database.session_scope() as s:
        claimed = s.execute(update(Export).where(Export.id == export_id,
                                                 Export.status == "queued")
                            .values(status="running", started_at=utcnow())).rowcount
        export = s.get(Export, export_id)
        if export is None or not claimed:
            return export.status if export is not None else "gone"
        fmt, identity = export.format, export.identity
        restriction = None if export.session_ids is None else set(export.session_ids)
        found = plan(s, Filters.of(export.filters), session_ids=restriction,
                     identity=identity)
        export.total, export.withheld = found.total, found.withheld
    try:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL) as out:
            build(fmt, found, out, progress=lambda done: _progress(export_id, done))
            _store(export_id, out)
    except Exception as exc:
        log.exception("export %s failed", export_id)
        with database.session_scope() as s:
            s.execute(update(Export).where(Export.id == export_id).values(
                status="failed", error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=utcnow()))
        return "failed"
    return "ready"


def build(fmt: str, found: Plan, out: IO[bytes], *,
          progress: Callable[[int], None] = lambda done: None) -> None:
    """Write the file of a plan into ``out``, reporting the interviews done per batch."""
    from core import db as database

    writer, done = Writer(fmt, out), 0
    for batch in documents(found.named, anonymous=False):
        writer.write(batch, anonymous=False)
        done += len(batch)
        progress(done)
    reasons = {w["session_id"]: w["reason"] for w in found.withheld}
    for session_id, ids in found.anonymous:
        for batch in documents(ids, anonymous=True):
            writer.write(batch, anonymous=True)
            done += len(batch)
            progress(done)
        with database.session_scope() as s:
            writer.session_done(s.get(Session, session_id), reasons.get(session_id))
    writer.close()


def _progress(export_id: int, done: int) -> None:
    from core import db as database

    with database.session_scope() as s:
        s.execute(update(Export).where(Export.id == export_id, Export.status == "running")
                  .values(done=done))


def _store(export_id: int, out: IO[bytes]) -> None:
    from core import db as database

    size = out.tell()
    out.seek(0)
    with database.session_scope() as s:
        now = utcnow()
        claimed = s.execute(update(Export).where(Export.id == export_id,
                                                 Export.status == "running").values(
            status="ready", size=size, done=Export.total, finished_at=now,
            expires_at=now + timedelta(minutes=get_settings().export_link_minutes))).rowcount
        if not claimed:  # failed meanwhile (an interview in it was deleted): no file
            return
        s.execute(delete(ExportFile).where(ExportFile.export_id == export_id))
        seq = 0
        while data := out.read(CHUNK):
            s.execute(insert(ExportFile).values(export_id=export_id, seq=seq, data=data))
            seq += 1


def chunks(export_id: int) -> Iterator[bytes]:
    """A ready export's file, a piece (and a short transaction) at a time."""
    from core import db as database

    seq = 0
    while True:
        with database.session_scope() as s:
            data = s.scalar(select(ExportFile.data).where(ExportFile.export_id == export_id,
                                                          ExportFile.seq == seq))
        if data is None:
            return
        yield bytes(data)
        seq += 1


def filename(export: Export) -> str:
    return f"parley-export-{export.id}.{export.format}"


DROPPED = "an interview in it was deleted, so its file was too: ask for the export again"


def forget(db: DB) -> int:
    """An interview is deleted: what it said must leave every export too. Which exports
    hold it is not kept, so every file is dropped (they live an hour) and a running export
    fails; returns how many exports lost their file."""
    ready = _expire(db, Export.status == "ready", error=DROPPED)
    db.execute(update(Export).where(Export.status.in_(ACTIVE)).values(
        status="failed", error=DROPPED, finished_at=utcnow()))
    return ready


def _expire(db: DB, *where, **values) -> int:
    """Drop the files of the exports ``where`` selects; their rows stay, ``expired``."""
    ids = list(db.scalars(select(Export.id).where(*where)))
    if ids:
        db.execute(delete(ExportFile).where(ExportFile.export_id.in_(ids)))
        db.execute(update(Export).where(Export.id.in_(ids)).values(status="expired",
                                                                   **values))
    return len(ids)


def prune() -> int:
    """Scheduler: drop the files of exports whose link has expired (the row stays, as
    ``expired``, for the audit trail), and fail exports whose worker died."""
    from core import db as database

    now = utcnow()
    with database.session_scope() as s:
        expired = _expire(s, Export.status == "ready", Export.expires_at <= now)
        s.execute(update(Export).where(  # stale since it started (or, queued, was asked)
            Export.status.in_(ACTIVE),
            func.coalesce(Export.started_at, Export.created_at) < now - STALE).values(
            status="failed", error="the export did not finish (its worker stopped)",
            finished_at=now))
    return expired
