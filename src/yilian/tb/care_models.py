"""Tables of TB patient management (DOT, visits, outcomes, transfers)."""

from __future__ import annotations
