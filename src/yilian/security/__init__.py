"""Authentication, roles and the single access decision for personal data."""
