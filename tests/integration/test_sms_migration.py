"""Migration 0008 rewrites the phone numbers people were written with before SMS as E.164,
so the numbers Twilio reports find them; the opt-out ledger reads any spelling."""

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from core import db, phones
from core.models import PhoneNumber, utcnow


def test_phones_written_before_sms_become_e164_and_the_rest_are_left(tmp_path, monkeypatch):
    monkeypatch.setenv("SMS_DEFAULT_REGION", "GB")  # the operator's country
    cfg = Config(str(db.ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(db.ROOT / "migrations"))
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        for i, phone in enumerate(["+1 (415) 555-0123", "020 7946 0958", "+14155550124",
                                   "ask reception", None]):
            conn.execute(text("INSERT INTO person (id, name, phone, timezone, created_at) "
                              "VALUES (:id, 'P', :phone, 'UTC', CURRENT_TIMESTAMP)"),
                         {"id": i + 1, "phone": phone})
        command.upgrade(cfg, "0008")
        got = conn.execute(text("SELECT phone FROM person ORDER BY id")).scalars().all()
    assert got == ["+14155550123", "+442079460958", "+14155550124", "ask reception", None]


def test_the_ledger_finds_an_opt_out_whatever_the_spelling(app):
    with db.session_scope() as s:
        s.add(PhoneNumber(number="+14155550123", opted_out=True, reason="STOP",
                          changed_at=utcnow()))
    with db.session_scope() as s:
        assert phones.opted_out(s, "(415) 555-0123")
        assert not phones.may_text(s, "sms", {"key": "415.555.0123"})
        assert phones.may_text(s, "sms", {"key": "415 555 0199"})
        assert not phones.opted_out(s, "not a number")
