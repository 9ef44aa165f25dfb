"""Tables of the tb domain."""

from __future__ import annotations
