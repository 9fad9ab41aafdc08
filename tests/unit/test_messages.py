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
    "question": "Which office did you apply at?",
    "message": "Your passport is ready.",
    "reason": "The same complaint is already open.",
    "instruction": "Reply today.",
}
TEMPLATES = sorted(path.stem for path in (SHIPPED_TEMPLATES / "ar").glob("[!_]*.txt"))


def test_both_languages_have_the_same_templates():
    english = sorted(path.stem for path in (SHIPPED_TEMPLATES / "en").glob("[!_]*.txt"))
    assert TEMPLATES == english and len(TEMPLATES) >= 15


@pytest.mark.parametrize("language", ["ar", "en"])
@pytest.mark.parametrize("template", TEMPLATES)
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
