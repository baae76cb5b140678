"""What a person wrote lives where a delete finds it, and nowhere else (DESIGN.md §4;
issue 8, items 2 and 3): after deleting the interview, or after declining consent, a
search of every table and every Redis key finds none of it."""

import base64
import binascii
import warnings
import zlib

from sqlalchemy import MetaData, select
from sqlalchemy.exc import SAWarning

from core import db, jobs
from core.interviewer import prompts
from core.models import Interview, Turn
from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of

SSN = "123-45-6789"


def _texts(blob: bytes) -> list[bytes]:
    """A Redis value as it may hold text: raw, zlib-compressed (RQ's job data), base64."""
    texts = [blob]
    for decode in (zlib.decompress, base64.b64decode,
                   lambda b: zlib.decompress(base64.b64decode(b))):
        try:
            texts.append(decode(blob))
        except (zlib.error, binascii.Error, ValueError):
            continue
    return texts


def redis_values():
    r = jobs.connection()
    for key in r.scan_iter(count=1000):
        kind = r.type(key).decode()
        if kind == "string":
            values = [r.get(key)]
        elif kind == "hash":
            values = [v for pair in r.hgetall(key).items() for v in pair]
        elif kind == "list":
            values = r.lrange(key, 0, -1)
        elif kind == "set":
            values = list(r.smembers(key))
        elif kind == "zset":
            values = r.zrange(key, 0, -1)
        elif kind == "stream":
            values = [v for _, fields in r.xrange(key) for pair in fields.items() for v in pair]
        else:
            values = []
        yield key, [key, *values]


def places_holding(needle: str) -> list[str]:
    """Every table (reflected from the database itself, so none is missed) and every Redis
    key whose contents include ``needle``."""
    found = []
    meta = MetaData()
    with warnings.catch_warnings():  # an expression index is skipped; its rows are not
        warnings.simplefilter("ignore", SAWarning)
        meta.reflect(bind=db.engine())
    with db.engine().connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    if value is not None and needle in str(value):
                        found.append(f"{table.name}.{column}")
    raw = needle.encode()
    for key, values in redis_values():
        if any(raw in text for value in values for text in _texts(value or b"")):
            found.append(f"redis {key!r}")
    return sorted(set(found))


def test_deleting_an_interview_deletes_everything_the_person_wrote(client, api, library):
    session = make_session(api)
    token = token_of(invite(api, session["id"])["link"])
    chat = WebChat(client, token).open().choose("accept")
    chat.say(f"My manager asked for my SSN, {SSN}, in a team chat, and that worried me.")
    chat.say(f"Also HR stored {SSN} in a spreadsheet everyone can open.")
    chat.say("pause")
    with db.session_scope() as s:
        interview_id = s.scalar(select(Interview.id))
        assert SSN in " ".join(s.scalars(select(Turn.text)))  # it was really recorded
    assert places_holding(SSN)

    assert api.delete(f"/interviews/{interview_id}").status_code == 204
    assert places_holding(SSN) == []


def test_declining_consent_keeps_nothing_but_the_choice(client, api, library):
    session = make_session(api)
    token = token_of(invite(api, session["id"])["link"])
    chat = WebChat(client, token).open()
    chat.say(f"Before I agree: my SSN is {SSN} and I don't want it anywhere.")
    chat.assert_reply(prompts.CONSENT_REMINDER)
    chat.choose("decline").assert_reply(prompts.DECLINED)
    assert chat.status == "declined"

    assert places_holding(SSN) == []
    with db.session_scope() as s:
        said = list(s.scalars(select(Turn.text).where(Turn.role == "participant")))
    assert said == ["No thanks"]
