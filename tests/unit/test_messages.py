"""Every message template renders in both languages, Arabic by default, and the ministry's own folder wins."""

from pathlib import Path

import pytest
from jinja2 import UndefinedError

from activities.messages import SHIPPED_TEMPLATES, MessageRenderer

CONTEXT = {
    "reference": "C-2026-000123",
    "kind": "complaint",
    "status": "with_department",
    "answer_due": "2026-12-03T10:30:00+00:00",
    "department_due": "2026-12-01T10:30:00+00:00",
    "department_name": "Directorate General of Civil Status",
    "case_department_name": "Directorate General of Passports",
    "question": "Which office did you apply at?",
    "message": "Your passport is ready.",
    "reason": "The same complaint is already open.",
    "instruction": "Reply today.",
}
TEMPLATES = sorted(path.stem for path in (SHIPPED_TEMPLATES / "ar").glob("[!_]*.txt"))
# The one message about many cases; the rest are about one case each.
DIGEST = "director_general_digest"
CASE_TEMPLATES = [template for template in TEMPLATES if template != DIGEST]


def test_both_languages_have_the_same_templates():
    english = sorted(path.stem for path in (SHIPPED_TEMPLATES / "en").glob("[!_]*.txt"))
    assert TEMPLATES == english and len(TEMPLATES) >= 15


@pytest.mark.parametrize("language", ["ar", "en"])
@pytest.mark.parametrize("template", CASE_TEMPLATES)
def test_every_template_renders_with_the_reference_and_muscat_time(template, language):
    rendered = MessageRenderer().render(template, language, CONTEXT)
    assert rendered.subject and "\n" not in rendered.subject
    assert CONTEXT["reference"] in rendered.subject and CONTEXT["reference"] in rendered.body
    assert rendered.sms and len(rendered.sms) < 300
    assert "{{" not in rendered.body and "{%" not in rendered.body


def test_dates_are_shown_in_muscat_time():
    rendered = MessageRenderer().render("acknowledgement", "ar", CONTEXT)
    assert "2026-12-03 14:30 بتوقيت مسقط" in rendered.body  # 10:30 UTC is 14:30 in Muscat


def test_an_unknown_language_falls_back_to_arabic():
    assert MessageRenderer().render("acknowledgement", "fr", CONTEXT).language == "ar"


def test_a_missing_value_is_an_error_not_a_gap():
    with pytest.raises(UndefinedError):
        MessageRenderer().render("answer", "ar", {key: value for key, value in CONTEXT.items() if key != "message"})


def test_the_ministrys_folder_overrides_a_template(tmp_path: Path):
    (tmp_path / "ar").mkdir()
    (tmp_path / "ar" / "acknowledgement.txt").write_text(
        '{% extends "ar/_base.txt" %}{% block subject %}وصلت {{ reference }}{% endblock %}'
        "{% block content %}نص الوزارة{% endblock %}{% block sms %}وصلت{% endblock %}",
        encoding="utf-8",
    )
    rendered = MessageRenderer(tmp_path).render("acknowledgement", "ar", CONTEXT)
    assert rendered.subject == "وصلت C-2026-000123" and "نص الوزارة" in rendered.body
    assert "We received" in MessageRenderer(tmp_path).render("acknowledgement", "en", CONTEXT).subject


DIGEST_CONTEXT = {
    "day_closes_at": "2026-12-03T10:30:00+00:00",
    "cases": [
        {"reference": "C-2026-000123", "kind": "complaint", "department": "Directorate General of Passports",
         "answer_due": "2026-11-26T10:30:00+00:00", "days_overdue": 5},
        {"reference": "R-2026-000007", "kind": "report", "department": "",
         "answer_due": "2026-12-02T10:30:00+00:00", "days_overdue": 1},
    ],
}


@pytest.mark.parametrize("language", ["ar", "en"])
def test_the_digest_lists_every_case_with_its_department_and_days_overdue(language):
    rendered = MessageRenderer().render(DIGEST, language, DIGEST_CONTEXT)
    lines = [line for line in rendered.body.splitlines() if line.startswith("- ")]
    assert [line.split()[1].rstrip(":،") for line in lines] == ["C-2026-000123", "R-2026-000007"]
    assert "Directorate General of Passports" in lines[0] and "5" in lines[0] and rendered.sms not in rendered.body
    assert "2" in rendered.subject and "\n" not in rendered.subject and rendered.sms
    assert "cases | length" not in rendered.body and rendered.subject not in rendered.body


@pytest.mark.parametrize("language", ["ar", "en"])
def test_the_director_generals_escalation_names_the_department(language):
    rendered = MessageRenderer().render("escalation", language, CONTEXT)
    assert "Directorate General of Passports" in rendered.body and "Directorate General of Passports" in rendered.sms


@pytest.mark.parametrize("language", ["ar", "en"])
def test_the_question_says_by_when_and_the_answer_until_when_it_can_be_contested(language):
    question = MessageRenderer().render("info_request", language, {**CONTEXT, "info_due": "2026-12-08T10:30:00+00:00"})
    assert "2026-12-08 14:30" in question.body and "2026-12-08 14:30" in question.sms
    answer = MessageRenderer().render("answer", language, {**CONTEXT, "contest_due": "2026-12-10T10:30:00+00:00"})
    assert "2026-12-10 14:30" in answer.body


@pytest.mark.parametrize("language", ["ar", "en"])
@pytest.mark.parametrize("template", CASE_TEMPLATES)
def test_a_message_that_speaks_of_the_tracking_page_links_to_it(template, language):
    rendered = MessageRenderer(public_url="https://complaints.example.om").render(template, language, CONTEXT)
    text = rendered.body + rendered.sms
    if "tracking page" in text or "صفحة المتابعة" in text:
        assert "https://complaints.example.om/track" in rendered.body


def test_staff_text_is_isolated_so_its_punctuation_stays_at_its_own_end():
    english = {**CONTEXT, "question": "Which office? (main or branch)"}
    rendered = MessageRenderer().render("info_request", "ar", english)
    assert "\u2068Which office? (main or branch)\u2069" in rendered.body


def test_direction_controls_in_staff_text_cannot_turn_the_rest_of_the_letter():
    # U+202E (right-to-left override) left open would reverse everything after it.
    hostile = {**CONTEXT, "reason": "duplicate\u202e case\u2066 open"}
    rendered = MessageRenderer().render("rejection", "en", hostile)
    assert "\u202e" not in rendered.body and "\u2066" not in rendered.body
    assert "\u2068duplicate case open\u2069" in rendered.body


def test_the_html_part_shows_staff_text_as_bdi():
    from activities.transports import _html

    rendered = MessageRenderer().render("info_request", "ar", {**CONTEXT, "question": "Which <office>?"})
    html_part = _html(rendered)
    assert '<bdi dir="auto">Which &lt;office&gt;?</bdi>' in html_part
    assert "\u2068" not in html_part and "\u2069" not in html_part
