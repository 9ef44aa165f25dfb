"""API of the referral domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
