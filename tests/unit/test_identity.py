"""The policy's duty to prove one's identity, by kind of submission."""

import pytest

from domain.identity import IdentityMissing, check_identity
from domain.kinds import Channel, Kind


def test_a_complaint_needs_a_civil_id_unless_its_channel_verifies_it():
    with pytest.raises(IdentityMissing, match="a complaint needs the submitter's civil ID"):
        check_identity(Kind.COMPLAINT, Channel.WEBSITE, None, anonymous_reports=True)
    check_identity(Kind.COMPLAINT, Channel.TAJAWOB, None, anonymous_reports=True)
    check_identity(Kind.COMPLAINT, Channel.WEBSITE, "12345678", anonymous_reports=False)


def test_a_report_may_be_anonymous_only_where_the_policy_accepts_it():
    check_identity(Kind.REPORT, Channel.PHONE, None, anonymous_reports=True)
    with pytest.raises(IdentityMissing, match="does not accept anonymous reports"):
        check_identity(Kind.REPORT, Channel.PHONE, None, anonymous_reports=False)


def test_a_suggestion_needs_no_identity():
    check_identity(Kind.SUGGESTION, Channel.EMAIL, None, anonymous_reports=False)
