"""Imports point one way (STYLE.md rule 2), checked on the source, not by convention.

The foundation (security, audit, registry, patients, records) never imports an
application domain; an application domain reaches another one only through its
``service`` module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "yilian"
FOUNDATION = {"security", "audit", "registry", "patients", "records"}
APPLICATIONS = {
    "recognition",
    "referral",
    "consult",
    "familydoctor",
    "chronic",
    "surveillance",
    "tb",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, name) for line, name in found if name.startswith("yilian.")]


def _domain_files(domains: set[str]) -> list[tuple[str, Path]]:
    return [(d, p) for d in sorted(domains) for p in sorted((SRC / d).rglob("*.py"))]


def test_the_layout_knows_every_domain() -> None:
    on_disk = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    assert on_disk >= FOUNDATION | APPLICATIONS


@pytest.mark.parametrize(("domain", "path"), _domain_files(FOUNDATION), ids=str)
def test_the_foundation_imports_no_application_domain(domain: str, path: Path) -> None:
    bad = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for line, name in _imports(path)
        if name.split(".")[1] in APPLICATIONS
    ]
    assert not bad, bad


@pytest.mark.parametrize(("domain", "path"), _domain_files(APPLICATIONS), ids=str)
def test_application_domains_meet_only_through_services(domain: str, path: Path) -> None:
    bad = []
    for line, name in _imports(path):
        parts = name.split(".")
        other = parts[1]
        if other in APPLICATIONS and other != domain and parts[2:3] != ["service"]:
            bad.append(f"{path.relative_to(SRC)}:{line} imports {name}")
    assert not bad, bad
