"""API of the tb domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
