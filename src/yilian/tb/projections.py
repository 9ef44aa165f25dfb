"""Projectors of the tb domain: what it does with resources stored by the exchange."""

from __future__ import annotations
