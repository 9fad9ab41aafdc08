"""Bad input from a drill: deep nesting, invisible and control characters, and keys sent twice.

Each is refused with 422 naming the field (or cleaned, where README.md's input rules say so) before
anything is recorded.
"""

import json
import uuid

import pytest

from tests.helpers import bearer, complaint, eventually, read_case, submit

RLO, LRI, PDI = "\u202e", "\u2066", "\u2069"
ZWSP, WORD_JOINER, BOM = "\u200b", "\u2060", "\ufeff"


def fields_of(response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    return [problem["field"] for problem in response.json()["error"]["fields"]]


async def post_raw(api, key: str, raw: str, path: str = "/v1/cases", method: str = "POST"):
    return await api.request(method, path, content=raw.encode(),
                             headers={**bearer(key), "Content-Type": "application/json"})


def with_submitter_name(name: str) -> dict:
    body = complaint()
    body["submitter"]["name"] = name
    return body


# ---------------------------------------------------------------- nesting


@pytest.mark.parametrize("inner", ['{"s": "\\u0000"}', "0"], ids=["with a NUL", "without"])
async def test_deep_nesting_is_a_422_before_any_scan(api, keys, inner):
    raw = "[" * 20_000 + inner + "]" * 20_000

    response = await post_raw(api, keys.channel, raw)

    assert fields_of(response) == ["body"]
    assert "nested deeper than 32" in response.json()["error"]["fields"][0]["reason"]


async def test_brackets_inside_strings_are_not_nesting(api, keys):
    created = await submit(api, keys.channel, complaint(description="[" * 500 + "{" * 500))
    assert created["reference"]


# ---------------------------------------------------------------- names and subjects


@pytest.mark.parametrize("name", [
    f"{RLO}yhtraH-lA milaS", f"Salim {LRI}Al-Harthy{PDI}", "\u202aSalim", "Salim\u202c",
], ids=["RLO", "isolates", "LRE", "PDF"])
async def test_a_name_with_bidi_controls_is_refused(api, keys, name):
    assert fields_of(await api.post("/v1/cases", json=with_submitter_name(name), headers=bearer(keys.channel))) == [
        "submitter.name"]


async def test_a_subject_with_bidi_controls_is_refused(api, keys):
    response = await api.post("/v1/cases", json=complaint(subject=f"Refund {RLO}gnitiaw"), headers=bearer(keys.channel))
    assert fields_of(response) == ["subject"]


@pytest.mark.parametrize("name", [ZWSP * 3, f" {BOM}{WORD_JOINER} ", "\u3164", "\u200e\u200f"],
                         ids=["zero-width spaces", "BOM and word joiner", "hangul filler", "direction marks"])
async def test_a_name_of_invisible_characters_only_is_refused(api, keys, name):
    assert fields_of(await api.post("/v1/cases", json=with_submitter_name(name), headers=bearer(keys.channel))) == [
        "submitter.name"]


async def test_zero_width_characters_are_removed_from_names_and_subjects(api, keys):
    body = complaint(subject=f"{BOM}Renewal{ZWSP} delayed\u200d")
    body["submitter"]["name"] = f"Sa{ZWSP}lim{WORD_JOINER} Al-Harthy\u200f"

    reference = (await submit(api, keys.channel, body))["reference"]

    case = await eventually(lambda: read_case(api, keys.cs_agent, reference))
    assert case["subject"] == "Renewal delayed"
    assert case["submitter"]["name"] == "Salim Al-Harthy"


@pytest.mark.parametrize("field", ["name", "channel_ref", "subject"])
@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r"], ids=["CRLF", "LF", "CR"])
async def test_a_line_break_in_a_one_line_field_is_refused(api, keys, field, line_break):
    value = f"Salim{line_break}Bcc: everyone@example.om"
    body = with_submitter_name(value) if field == "name" else complaint(**{field: value})

    response = await api.post("/v1/cases", json=body, headers=bearer(keys.channel))

    assert fields_of(response) == ["submitter.name" if field == "name" else field]


# ---------------------------------------------------------------- control characters in any text


@pytest.mark.parametrize("control", ["\x1b[2J", "\x07", "\x7f", "\x08", "\x0b", "\x85", "\x9b"],
                         ids=["ESC", "BEL", "DEL", "backspace", "vertical tab", "NEL (C1)", "CSI (C1)"])
async def test_a_control_character_is_refused_in_any_text(api, keys, control):
    body = complaint(description=f"It stopped{control} here.", subject=f"Renewal{control} delayed")
    body["submitter"]["name"] = f"Salim{control} Al-Harthy"

    response = await api.post("/v1/cases", json=body, headers=bearer(keys.channel))

    assert sorted(fields_of(response)) == ["description", "subject", "submitter.name"]
    assert "control character" in response.json()["error"]["fields"][0]["reason"]


async def test_a_description_keeps_its_lines_and_tabs(api, keys):
    description = "First line.\r\nSecond line,\tindented.\nThird."
    reference = (await submit(api, keys.channel, complaint(description=description)))["reference"]
    case = await eventually(lambda: read_case(api, keys.cs_agent, reference))
    assert case["description"] == description


@pytest.mark.parametrize(("action", "field"), [
    ("reject", "reason"), ("request-info", "question"), ("reply", "summary"), ("respond", "message"),
    ("instruct", "instruction"),
])
async def test_a_control_character_in_staff_text_is_refused(api, keys, action, field):
    response = await api.post(f"/v1/cases/C-2026-999999/{action}", json={field: "Done.\x1b[8m hidden"},
                              headers=bearer(keys.cs_agent))
    assert fields_of(response) == [field]


# ---------------------------------------------------------------- department names from the admin API


@pytest.mark.parametrize(("name_en", "reason"), [
    ("Evil\r\nDepartment", "line break"), ("<b>Evil</b> Department", "markup"), ("Evil > Good", "markup"),
    (f"{RLO}tnemtrapeD", "bidirectional"),
])
async def test_a_department_name_with_a_line_break_or_markup_is_refused(api, keys, name_en, reason):
    code = f"BAD_{uuid.uuid4().hex[:8].upper()}"
    response = await api.put(f"/v1/admin/departments/{code}",
                             json={"name_ar": "قسم", "name_en": name_en, "active": False}, headers=bearer(keys.admin))
    assert fields_of(response) == ["name_en"]
    assert reason in response.json()["error"]["fields"][0]["reason"]


# ---------------------------------------------------------------- a key twice


async def test_a_key_sent_twice_is_refused_naming_it(api, keys):
    body = complaint()
    raw = json.dumps(body)[:-1] + ', "kind": "suggestion"}'

    response = await post_raw(api, keys.channel, raw)

    assert fields_of(response) == ["kind"]
    assert "more than once" in response.json()["error"]["fields"][0]["reason"]


async def test_a_nested_key_sent_twice_is_refused_naming_its_path(api, keys):
    raw = json.dumps(complaint()).replace('"civil_id": "12345678"', '"civil_id": "12345678", "civil_id": "87654321"')

    response = await post_raw(api, keys.channel, raw)

    assert fields_of(response) == ["submitter.civil_id"]


async def test_a_key_twice_is_refused_on_every_route(api, keys):
    code = f"DUP_{uuid.uuid4().hex[:8].upper()}"
    raw = '{"name_ar": "قسم", "name_en": "Dept", "active": false, "active": true}'

    response = await post_raw(api, keys.admin, raw, path=f"/v1/admin/departments/{code}", method="PUT")

    assert fields_of(response) == ["active"]
