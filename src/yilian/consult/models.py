"""Tables of the consult domain."""

from __future__ import annotations
