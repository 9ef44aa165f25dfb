"""Projectors of the familydoctor domain."""

from __future__ import annotations
