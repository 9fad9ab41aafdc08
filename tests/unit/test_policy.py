"""The policy file: the shipped numbers, the errors an invalid file gives, routing and case terms."""

import json
from dataclasses import asdict
from datetime import time
from pathlib import Path

import pytest

from domain.kinds import Channel, Kind, Priority
from domain.policy import (
    CaseTerms,
    PolicyError,
    ResponseTimes,
    load_policy,
    parse_policy,
)

REPO = Path(__file__).resolve().parents[2]

VALID = """
version = "test.1"

[calendar]
timezone = "Asia/Muscat"
working_days = ["sunday", "monday", "tuesday", "wednesday", "thursday"]
day_closes_at = "14:30"

[response_times.complaint]
department_days = 3
answer_days = 5

[response_times.suggestion]
department_days = 10
answer_days = 15

[response_times.report.critical]
department_days = 1
answer_days = 2

[response_times.report.high]
department_days = 2
answer_days = 3

[response_times.report.normal]
department_days = 5
answer_days = 10

[response_times.report.low]
department_days = 10
answer_days = 15

[case_handling]
reminder_lead_days = 1
submitter_response_days = 10
contest_window_days = 5
reopen_answer_days = 3
anonymous_reports = true

[retention]
personal_data_days = 365

[[departments]]
code = "CS"
name_ar = "دائرة خدمة المراجعين"
name_en = "Customer Service Department"
customer_service = true

[[departments]]
code = "CIVIL_STATUS"
name_ar = "المديرية العامة للأحوال المدنية"
name_en = "Directorate General of Civil Status"

[[departments]]
code = "HR"
name_ar = "المديرية العامة للموارد البشرية"
name_en = "Directorate General of Human Resources"

[[routing]]
department = "CIVIL_STATUS"
keywords = ["passport", "جواز"]

[[routing]]
department = "HR"
kinds = ["report"]
channels = ["email", "phone"]
"""


def invalid(old: str, new: str) -> str:
    """The valid policy with one change; fails the test if the change does not apply."""
    assert old in VALID
    return VALID.replace(old, new, 1)


def error_for(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return str(caught.value)


# --- the shipped policy ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return load_policy(REPO / "policy.toml")


def test_the_shipped_policy_counts_sunday_to_thursday_in_muscat(shipped):
    assert shipped.version == "2026.1"
    assert shipped.timezone == "Asia/Muscat"
    assert set(shipped.working_weekdays) == {6, 0, 1, 2, 3}
    assert shipped.day_closes_at == time(14, 30)


def test_the_shipped_policy_has_the_response_times_of_the_policy(shipped):
    # "Complaints: within 3 - 5 working days"; "Suggestions: within 15 working days".
    assert shipped.complaint == ResponseTimes(department_days=3, answer_days=5)
    assert shipped.suggestion == ResponseTimes(department_days=10, answer_days=15)
    # "Reports: according to the nature and importance of the report".
    assert shipped.report == {
        Priority.CRITICAL: ResponseTimes(1, 2),
        Priority.HIGH: ResponseTimes(2, 3),
        Priority.NORMAL: ResponseTimes(5, 10),
        Priority.LOW: ResponseTimes(10, 15),
    }


def test_the_shipped_policy_has_the_follow_up_settings(shipped):
    assert shipped.reminder_lead_days == 1
    assert shipped.submitter_response_days == 10
    assert shipped.contest_window_days == 5
    assert shipped.reopen_answer_days == 3
    assert shipped.anonymous_reports is True
    assert shipped.extra_holidays == ()
    assert shipped.not_holidays == ()


def test_the_shipped_policy_has_one_customer_service_department_and_competent_departments(shipped):
    assert shipped.customer_service().code == "CS"
    assert shipped.customer_service().name_ar == "دائرة خدمة المراجعين"
    codes = {d.code for d in shipped.departments}
    assert {"CS", "CIVIL_STATUS", "LOCAL_ADMIN", "HR", "IT"} <= codes
    assert shipped.department("CIVIL_STATUS").name_en == "Directorate General of Civil Status"
    assert shipped.department("NOPE") is None


def test_the_shipped_routing_sends_civil_status_matters_to_civil_status(shipped):
    texts = ("Lost my Passport", "Renewing my civil ID", "Birth certificate delayed", "تجديد جواز السفر")
    for text in texts:
        assert shipped.route(Kind.COMPLAINT, Channel.WEBSITE, text) == "CIVIL_STATUS"


# --- invalid files -----------------------------------------------------------------------------


def test_a_routing_rule_to_an_unknown_department_is_refused():
    message = error_for(invalid('department = "HR"\nkinds', 'department = "POLICE"\nkinds'))
    assert "routing[1].department" in message
    assert "POLICE" in message


def test_a_missing_table_is_named():
    text = invalid("[response_times.suggestion]\ndepartment_days = 10\nanswer_days = 15\n", "")
    assert "response_times.suggestion: missing" in error_for(text)


def test_a_missing_key_is_named():
    text = invalid("reopen_answer_days = 3\n", "")
    assert "case_handling.reopen_answer_days: missing" in error_for(text)


def test_negative_days_are_refused():
    high = "[response_times.report.high]\ndepartment_days = "
    text = invalid(high + "2", high + "-2")
    message = error_for(text)
    assert "response_times.report.high.department_days" in message
    assert "at least 1" in message


def test_zero_days_are_refused():
    text = invalid("contest_window_days = 5", "contest_window_days = 0")
    assert "case_handling.contest_window_days" in error_for(text)


def test_days_must_be_whole_numbers():
    text = invalid("answer_days = 5", 'answer_days = "5"')
    assert "response_times.complaint.answer_days" in error_for(text)


def test_department_days_may_not_exceed_answer_days():
    message = error_for(invalid("department_days = 3", "department_days = 6"))
    assert "response_times.complaint.department_days" in message
    assert "answer_days" in message


def test_a_duplicate_department_code_is_refused():
    assert "duplicate department code 'HR'" in error_for(invalid('code = "CIVIL_STATUS"', 'code = "HR"'))
    assert "at most 40 characters" in error_for(invalid('code = "CIVIL_STATUS"', f'code = "{"C" * 41}"'))
    assert "is not a department code" in error_for(invalid('code = "CIVIL_STATUS"', 'code = "civil status"'))


def test_exactly_one_customer_service_department_is_required():
    none = invalid("customer_service = true", "customer_service = false")
    assert "departments" in error_for(none)
    two = invalid('name_en = "Directorate General of Human Resources"',
                  'name_en = "Directorate General of Human Resources"\ncustomer_service = true')
    assert "exactly one" in error_for(two)


def test_an_unknown_working_day_is_refused():
    assert "calendar.working_days" in error_for(invalid('"thursday"]', '"thursdy"]'))


def test_a_bad_closing_time_is_refused():
    assert "calendar.day_closes_at" in error_for(invalid('"14:30"', '"half past two"'))


def test_an_unknown_time_zone_is_refused():
    assert "calendar.timezone" in error_for(invalid('"Asia/Muscat"', '"Asia/Nowhere"'))


def test_an_unknown_kind_in_a_routing_rule_is_refused():
    assert "routing[1].kinds" in error_for(invalid('kinds = ["report"]', 'kinds = ["rumour"]'))


def test_an_unknown_key_is_refused_so_typos_do_not_pass_silently():
    assert "case_handling.reminder_lead_day: unknown key" in error_for(
        invalid("reminder_lead_days = 1", "reminder_lead_days = 1\nreminder_lead_day = 2")
    )


def test_a_date_in_both_calendar_override_lists_is_refused():
    text = invalid('day_closes_at = "14:30"',
                   'day_closes_at = "14:30"\nextra_holidays = ["2026-03-20"]\nnot_holidays = [2026-03-20]')
    assert "calendar.not_holidays" in error_for(text)


def test_text_that_is_not_toml_is_refused():
    assert "not valid TOML" in error_for("version = ")


def test_calendar_overrides_accept_iso_strings_and_toml_dates():
    policy = parse_policy(invalid('day_closes_at = "14:30"',
                                  'day_closes_at = "14:30"\nextra_holidays = ["2027-03-10", 2027-03-11]'))
    assert [d.isoformat() for d in policy.extra_holidays] == ["2027-03-10", "2027-03-11"]


# --- routing -----------------------------------------------------------------------------------


def test_routing_matches_keywords_case_insensitively_in_any_script():
    policy = parse_policy(VALID)
    assert policy.route(Kind.COMPLAINT, Channel.TAJAWOB, "My PASSPORT was not renewed") == "CIVIL_STATUS"
    arabic = "اقتراح بشأن جواز السفر"
    assert policy.route(Kind.SUGGESTION, Channel.WEBSITE, arabic) == "CIVIL_STATUS"


def test_routing_respects_the_kinds_and_channels_of_a_rule():
    policy = parse_policy(VALID)
    assert policy.route(Kind.REPORT, Channel.EMAIL, "bribery at an office") == "HR"
    assert policy.route(Kind.REPORT, Channel.WEBSITE, "bribery at an office") is None
    assert policy.route(Kind.COMPLAINT, Channel.EMAIL, "bribery at an office") is None


def test_the_first_matching_rule_wins():
    policy = parse_policy(VALID)
    assert policy.route(Kind.REPORT, Channel.PHONE, "passport fraud") == "CIVIL_STATUS"


# --- case terms --------------------------------------------------------------------------------


def test_a_complaint_has_the_same_times_whatever_its_priority():
    terms = parse_policy(VALID).terms_for(Kind.COMPLAINT)
    for priority in (None, *Priority):
        assert terms.response_times(priority) == ResponseTimes(3, 5)


def test_a_report_has_the_times_of_its_priority():
    terms = parse_policy(VALID).terms_for(Kind.REPORT)
    assert terms.response_times("critical") == ResponseTimes(1, 2)
    assert terms.response_times(Priority.LOW) == ResponseTimes(10, 15)
    assert terms.response_times(None) == ResponseTimes(5, 10)
    with pytest.raises(ValueError):
        terms.response_times("urgent")


def test_case_terms_carry_the_follow_up_settings_and_the_policy_version():
    terms = parse_policy(VALID).terms_for(Kind.SUGGESTION)
    assert terms.response_times(None) == ResponseTimes(10, 15)
    assert (terms.reminder_lead_days, terms.submitter_response_days) == (1, 10)
    assert (terms.contest_window_days, terms.reopen_answer_days) == (5, 3)
    assert terms.policy_version == "test.1"


def test_case_terms_survive_a_json_round_trip():
    terms = parse_policy(VALID).terms_for(Kind.REPORT)
    assert CaseTerms(**json.loads(json.dumps(asdict(terms)))) == terms
    assert CaseTerms().reminder_lead_days == 1  # every field has a default
