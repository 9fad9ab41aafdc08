"""What each role finds in the console's menu: the pages it may use, in the order it uses them."""

from dataclasses import dataclass

from domain.kinds import Role


@dataclass(frozen=True)
class Link:
    href: str
    label: str  # English; the page translates it


QUEUES = Link("/console/queues", "Queues")
NEW_CASE = Link("/console/cases/new", "New case")
ADMIN_LINKS = (
    Link("/console/admin/users", "Staff accounts"),
    Link("/console/admin/keys", "API keys"),
    Link("/console/admin/departments", "Departments"),
    Link("/console/admin/audit", "Sign-in audit"),
)

REVIEW = Link("/console/review", "Periodic review")

MENU: dict[Role, tuple[Link, ...]] = {
    Role.CALL_CENTRE: (NEW_CASE, Link("/console/queues/entered", "Cases I entered")),
    Role.CS_AGENT: (QUEUES, NEW_CASE, REVIEW),
    Role.DEPARTMENT: (QUEUES, REVIEW),
    Role.DIRECTOR_GENERAL: (QUEUES, REVIEW),
    Role.AUDITOR: (QUEUES, REVIEW),
    Role.ADMIN: ADMIN_LINKS,
}


def menu_of(role: Role) -> tuple[Link, ...]:
    return MENU.get(role, ())


def home_of(role: Role) -> str:
    """Where a person lands after signing in: the first page of their menu."""
    links = menu_of(role)
    return links[0].href if links else "/console/"


ROLE_NAMES = {
    Role.CHANNEL: "Channel",
    Role.CALL_CENTRE: "Call centre",
    Role.CS_AGENT: "Customer service",
    Role.DEPARTMENT: "Department",
    Role.DIRECTOR_GENERAL: "Director General",
    Role.AUDITOR: "Auditor",
    Role.ADMIN: "Administrator",
}
