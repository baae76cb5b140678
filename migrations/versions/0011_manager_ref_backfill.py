"""manager_ref for links made before it existed: the manager's employee id, else email, so
the first import's rebuild of the hierarchy keeps them

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE person SET manager_ref = (SELECT COALESCE(m.employee_id, m.email) "
        "FROM person m WHERE m.id = person.manager_id) "
        "WHERE manager_ref IS NULL AND manager_id IS NOT NULL")


def downgrade() -> None:
    pass  # the values are harmless under 0010
