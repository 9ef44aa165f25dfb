"""API of TB patient management."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
