"""Tables of the surveillance domain."""

from __future__ import annotations
