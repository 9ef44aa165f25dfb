"""Projectors of the surveillance domain: what it does with resources stored by the exchange."""

from __future__ import annotations
