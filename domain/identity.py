"""The policy's duty to prove one's identity: complaints need it, reports may be anonymous, suggestions not.

Pure standard library: the API checks a submission with it before a case begins.
"""

from domain.kinds import Channel, Kind

# Tajawob signs people in with their civil ID: a complaint through it carries a verified identity.
CHANNELS_THAT_VERIFY_IDENTITY = frozenset({Channel.TAJAWOB})


class IdentityMissing(ValueError):
    """The submission does not prove the identity the policy asks of its kind; the message says why."""


def check_identity(kind: Kind, channel: Channel, civil_id: str | None, anonymous_reports: bool) -> None:
    """Raise IdentityMissing unless the submitter's identity is proven as far as the policy asks."""
    if kind == Kind.COMPLAINT and civil_id is None and channel not in CHANNELS_THAT_VERIFY_IDENTITY:
        raise IdentityMissing("a complaint needs the submitter's civil ID (or a channel that verifies it)")
    if kind == Kind.REPORT and not anonymous_reports and civil_id is None:
        raise IdentityMissing("the policy does not accept anonymous reports")
