"""Navigation per role. Domains add their pages with :func:`register`."""

from __future__ import annotations

from dataclasses import dataclass

from yilian.security.principal import Role

ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class NavItem:
    key: str  # i18n key of the label
    href: str
    roles: frozenset[Role] = ALL_ROLES
    order: int = 100


_ITEMS: list[NavItem] = []


def register(item: NavItem) -> None:
    if all(existing.href != item.href for existing in _ITEMS):
        _ITEMS.append(item)


def for_role(role: Role) -> list[NavItem]:
    return sorted((i for i in _ITEMS if role in i.roles), key=lambda i: (i.order, i.href))


register(NavItem("nav.home", "/ui", order=0))
register(NavItem("nav.organizations", "/ui/organizations", order=10))
register(NavItem("nav.audit", "/ui/audit", frozenset({Role.admin}), order=90))
register(NavItem("nav.api", "/docs", frozenset({Role.admin, Role.system}), order=99))
register(
    NavItem(
        "nav.persons",
        "/ui/persons",
        frozenset({Role.admin, Role.doctor, Role.specialist}),
        order=20,
    )
)
