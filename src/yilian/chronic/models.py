"""Tables of the chronic domain."""

from __future__ import annotations
