"""Geography, institutions, consortia and profiles; the registry load and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from yilian.db import Base
from yilian.synth import geography as geo
from yilian.synth.profile import ProfileError, load_profile


def test_changning_has_the_institutions_of_the_seeds() -> None:
    cn = [o for o in geo.ORGS if o.region_code == geo.CHANGNING]
    kinds = Counter(o.type for o in cn)
    assert kinds["community_health_center"] == 10
    assert kinds["community_health_subcenter"] == 1
    assert kinds["community_health_station"] == 44
    names = {o.short_name for o in cn}
    assert {"同仁医院", "光华医院", "天山中医医院", "妇幼保健院", "精神卫生中心"} <= names
    assert {s.short for s in geo.STREETS if s.district == geo.CHANGNING} == {
        "新华", "江苏", "华阳", "周家桥", "天山", "仙霞", "虹桥", "程家桥", "北新泾", "新泾",
    }  # fmt: skip
    for station in (o for o in cn if o.type == "community_health_station"):
        assert geo.ORG_BY_CODE[station.parent_code or ""].type == "community_health_center"


def test_consortia_are_led_as_the_seeds_say() -> None:
    lead = {c.name: geo.ORG_BY_CODE[c.lead_code].short_name for c in geo.CONSORTIA}
    assert lead["长宁区区域整合型医联体"] == "同仁医院"
    assert lead["长宁区区域中医医联体"] == "天山中医医院"
    assert lead["中西医结合关节病专科联盟"] == "光华医院"
    zone = {o.region_code for o in geo.ORGS if "310118I001" in {o.code}}
    assert zone == {geo.QINGPU}
    for c in geo.CONSORTIA:
        assert c.lead_code in geo.ORG_BY_CODE
        assert all(m in geo.ORG_BY_CODE for m in c.member_codes)


def test_demo_zone_spans_three_provinces() -> None:
    provinces = {
        o.province for o in geo.ORGS if o.region_code in (geo.QINGPU, geo.WUJIANG, geo.JIASHAN)
    }
    assert provinces == {"310000", "320000", "330000"}
    assert geo.pooling_area(geo.WUJIANG) == "320500"
    assert geo.pooling_area(geo.CHANGNING) == "310000"


def test_registry_payload_loads_through_the_registry_service() -> None:
    pytest.importorskip("yilian.registry.service")
    from yilian.registry import models  # noqa: F401  (registers the tables)
    from yilian.registry.models import Consortium, Organization, Practitioner, Region
    from yilian.synth.load import load_registry

    engine = create_engine("sqlite://")
    tables = [Base.metadata.tables[n] for n in (
        "regions", "organizations", "consortia", "consortium_members", "practitioners",
        "practitioner_roles",
    )]  # fmt: skip
    Base.metadata.create_all(engine, tables=tables)
    payload = geo.registry_payload()
    with Session(engine) as session:
        load_registry(session, payload)
        load_registry(session, payload)  # idempotent
        session.commit()
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert count(Region) == len(payload["regions"])
        assert count(Organization) == len(payload["organizations"])
        assert count(Consortium) == len(payload["consortia"])
        assert count(Practitioner) == len(payload["practitioners"])


def test_profile_blocks_all_name_a_source(tmp_path: Path) -> None:
    profile = load_profile()
    assert profile.name == "changning"
    assert load_profile(overrides={"tb": {"rr_share": 0.5}})["tb"]["rr_share"] == 0.5
    assert load_profile(overrides={"tb": {"rr_share": 0.5}}).sha256 != profile.sha256
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\npopulation: {age_bands: []}\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="lacks"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.yaml")


def test_cli_generates_a_region(tmp_path: Path) -> None:
    from yilian.cli import app

    out = tmp_path / "run"
    args = ["synth", "--residents", "50", "--days", "3", "--seed", "2", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "resources" in result.output
    assert json.loads((out / "manifest.json").read_text())["residents"] == 50
    again = CliRunner().invoke(app, [*args, "--workers", "1"])
    assert again.exit_code == 1
    bad = CliRunner().invoke(app, [*args, "--start-date", "2024-13-01", "--overwrite"])
    assert bad.exit_code == 2
