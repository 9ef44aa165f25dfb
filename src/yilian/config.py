"""Settings, read from the environment (prefix ``YILIAN_``) with the seeds' values as defaults."""

from __future__ import annotations

import base64
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path(os.environ.get("YILIAN_VAR_DIR", "var"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YILIAN_", extra="ignore")

    env: str = "development"
    var_dir: Path = VAR_DIR
    database_url: str = Field(default_factory=lambda: f"sqlite:///{VAR_DIR / 'yilian.db'}")
    # Signing key for bearer tokens and the key identifiers are encrypted with.
    # Empty means "use (or create) the per-installation key file under var/".
    secret_key: str = ""
    data_key: str = ""

    access_token_minutes: int = 60
    # Login protection: a window of failures per username/address, then a lock-out.
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    login_rate_per_minute: int = 20

    max_body_bytes: int = 10 * 1024 * 1024
    page_size_default: int = 50
    page_size_max: int = 500

    default_language: str = "zh-CN"

    # Sharing for a person who has recorded no consent choice: "none" (care
    # relationships only), "consortium" (partners of the institutions treating them,
    # the 医联体 reading of 004 附件1) or "region". A recorded choice always wins.
    sharing_default: Literal["none", "consortium", "region"] = "none"
    # Codes of the organisations that act for the whole region, not one province's tenant
    # (区域协同防控中心, seed 000). Formerly YILIAN_TB_REGION_ORGANIZATIONS, still read
    # while this is unset (deprecated).
    region_organizations: list[str] = Field(default_factory=list)
    # Master patient index: match probability that links automatically / queues a review.
    mpi_link_threshold: float = Field(default=0.99, gt=0, le=1)
    mpi_review_threshold: float = Field(default=0.5, gt=0, le=1)


def _key_file(settings: Settings) -> Path:
    return settings.var_dir / "keys.json"


def _installation_keys(settings: Settings) -> dict[str, str]:
    """Load the per-installation keys, creating them (mode 600) on first use."""
    path = _key_file(settings)
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "secret_key": secrets.token_urlsafe(48),
        "data_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return data


def resolve_keys(settings: Settings) -> Settings:
    """Fill empty keys from the installation key file."""
    if settings.secret_key and settings.data_key:
        return settings
    keys = _installation_keys(settings)
    return settings.model_copy(
        update={
            "secret_key": settings.secret_key or keys["secret_key"],
            "data_key": settings.data_key or keys["data_key"],
        }
    )


@lru_cache
def get_settings() -> Settings:
    return resolve_keys(Settings())
