"""fhir tokens without a foreign key

The search tokens are an index derived from the resource, written and replaced with it
by the records repository only; the per-row foreign-key check cost the PostgreSQL
server a seventh of its work during an import (see FhirToken's docstring).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 06:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_fhir_tokens_resource_type_fhir_resources"


def upgrade() -> None:
    with op.batch_alter_table("fhir_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(FOREIGN_KEY, type_="foreignkey")


def downgrade() -> None:
    # Tokens left by a resource removed outside the repository would stop the key.
    op.execute(
        "DELETE FROM fhir_tokens WHERE NOT EXISTS (SELECT 1 FROM fhir_resources r"
        " WHERE r.resource_type = fhir_tokens.resource_type"
        " AND r.id = fhir_tokens.resource_id)"
    )
    with op.batch_alter_table("fhir_tokens", schema=None) as batch_op:
        batch_op.create_foreign_key(
            FOREIGN_KEY,
            "fhir_resources",
            ["resource_type", "resource_id"],
            ["resource_type", "id"],
            ondelete="CASCADE",
        )
