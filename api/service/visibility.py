"""Who may see which case: one rule, the caller's `CaseScope`, which tests a case row and conditions a list alike.

- `cs_agent`, `director_general`, `auditor`: every case;
- `department`: the cases routed to its own department (`cases.department`);
- `channel` and `call_centre`: the cases they submitted (`cases.submitted_by_key`);
- `admin`: none (it manages keys and departments, not case content).

A caller who may not see a case is told it does not exist (404), on reads and on actions alike.
Apart from that, the submitter's identity on a report is for the customer-service team and the
auditors only. A channel reads the cases it submitted as their submitter does (the tracking view),
which holds no personal data at all.
"""

from api.auth import Caller
from domain.kinds import REFERENCE_PREFIX, Kind, Role
from store.cases import CaseScope
from store.models import CaseRecord

SEES_EVERY_CASE = frozenset({Role.CS_AGENT, Role.DIRECTOR_GENERAL, Role.AUDITOR})
# A channel and the call centre submit what people sent elsewhere and read back only those cases, as their
# submitters do (the tracking view).
SUBMITS_FOR_OTHERS = frozenset({Role.CHANNEL, Role.CALL_CENTRE})
# Roles that read case content at all; any other (admin) is refused with 403 on the case routes.
READS_CASES = SEES_EVERY_CASE | {Role.DEPARTMENT} | SUBMITS_FOR_OTHERS
# Staff read the case file (subject, description, timeline) of the cases they see; a channel reads
# its cases as their submitters do, in the tracking view.
READS_CASE_FILE = SEES_EVERY_CASE | {Role.DEPARTMENT}


def reads_cases(caller: Caller) -> bool:
    return caller.role in READS_CASES


def reads_case_file(caller: Caller) -> bool:
    return caller.role in READS_CASE_FILE


def sees_every_case(caller: Caller) -> bool:
    return caller.role in SEES_EVERY_CASE


def scope_of(caller: Caller) -> CaseScope:
    """The cases `caller` may see."""
    if caller.role in SEES_EVERY_CASE:
        return CaseScope(every_case=True)
    if caller.role == Role.DEPARTMENT and caller.department is not None:
        return CaseScope(department=caller.department)
    if caller.role in SUBMITS_FOR_OTHERS:
        return CaseScope(submitted_by_key=caller.principal)
    return CaseScope()


def may_see(caller: Caller, case: CaseRecord) -> bool:
    """Whether `caller` may see this case; the same rule as a list's (`scope_of(caller).condition()`)."""
    return scope_of(caller).admits(case)


def may_see_submitter(caller: Caller, *, kind: str, reference: str) -> bool:
    """The identity of whoever files a report is never shown to a department or the Director General.

    The identity is the submitter's details and the channel's own reference (`channel_ref`): a platform's
    reference, such as Tajawob's, leads back to the person on that platform.

    A case filed as a report keeps its `R-` reference when triage makes it a complaint: it stays hidden then too.
    """
    filed_as_report = reference.startswith(f"{REFERENCE_PREFIX[Kind.REPORT]}-")
    is_report = kind == Kind.REPORT or filed_as_report
    return not (is_report and caller.role in {Role.DEPARTMENT, Role.DIRECTOR_GENERAL})
