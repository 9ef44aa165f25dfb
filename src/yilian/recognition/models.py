"""Tables of the recognition domain."""

from __future__ import annotations
