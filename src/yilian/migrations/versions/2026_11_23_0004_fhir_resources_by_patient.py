"""fhir resources by patient: reads find a person's resources through its Patients

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_fhir_resources_patient", "fhir_resources", ["patient_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_fhir_resources_patient", table_name="fhir_resources")
