"""Web pages of the consult domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
