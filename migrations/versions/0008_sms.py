"""SMS: the phone-number ledger (opt-outs are law), people's numbers as E.164, outbox row's segment count and part ids

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

import os

import phonenumbers
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phone_number",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stranger_replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("number"),
    )
    with op.batch_alter_table("outbound") as batch:
        batch.add_column(sa.Column("segments", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("provider_ids", sa.JSON(), nullable=True))
    _phones_as_e164()


def _phones_as_e164() -> None:
    """Numbers written before SMS are compared with what Twilio reports (E.164): rewrite
    each that parses (without +country code: SMS_DEFAULT_REGION, else US); leave the rest."""
    region = (os.environ.get("SMS_DEFAULT_REGION") or "US").upper()
    person = sa.table("person", sa.column("id", sa.Integer), sa.column("phone", sa.String))
    bind = op.get_bind()
    rows = bind.execute(sa.select(person.c.id, person.c.phone)
                        .where(person.c.phone.is_not(None))).all()
    for person_id, phone in rows:
        try:
            parsed = phonenumbers.parse(phone.strip(), region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_possible_number(parsed):
            continue
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if e164 != phone:
            bind.execute(person.update().where(person.c.id == person_id).values(phone=e164))


def downgrade() -> None:
    with op.batch_alter_table("outbound") as batch:
        batch.drop_column("provider_ids")
        batch.drop_column("segments")
    op.drop_table("phone_number")
