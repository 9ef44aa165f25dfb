"""yilian (医联) — open regional health-integration platform."""

__version__ = "0.1.0"
