"""Evidence on the public pages: files sent with a submission and with an answer to the ministry's question,
checked by their content; the department opens them and never learns who sent a report."""

import re
import uuid

import httpx
import pytest

from tests.api.test_evidence import EXECUTABLE, PNG, pdf
from tests.conftest import DEPARTMENT
from tests.e2e.accessibility import assert_accessible
from tests.e2e.public import (
    act,
    anonymous_report_form,
    complaint_form,
    made_no_case,
    read_case,
    receipt_of,
    served_public_site,  # noqa: F401 (the fixture `public_site`)
    solved_proof,
    submission_key_of,
)
from tests.e2e.test_public_submit import _fill_and_send
from tests.helpers import bearer, eventually

pytestmark = pytest.mark.asyncio


async def _send_with_files(client: httpx.AsyncClient, form: dict[str, str], files: list[tuple[str, bytes]],
                           language: str = "en") -> httpx.Response:
    page = await client.get(f"/?lang={language}")
    fields = {"submission_key": submission_key_of(page.text), **form,
              "altcha": solved_proof((await client.get("/proof-of-work/challenge")).json())}
    return await client.post("/", data=fields, files=[("files", (name, content, "application/octet-stream"))
                                                      for name, content in files])


async def _files(api, key: str, reference: str) -> list[dict]:
    answer = await api.get(f"/v1/cases/{reference}/files", headers=bearer(key))
    return answer.json()["items"] if answer.status_code == 200 else []


async def test_a_complaint_with_two_files_keeps_them_and_a_disguised_program_is_refused_at_the_field(
        public_site, api, keys, database):
    async with httpx.AsyncClient(base_url=public_site) as client:
        refused = await _send_with_files(client, complaint_form(), [("scan.pdf", pdf()), ("photo.pdf", EXECUTABLE)])
        assert refused.status_code == 422 and 'id="files-error"' in refused.text
        assert "photo.pdf" in refused.text and "checked by what they contain" in refused.text
        key = submission_key_of(refused.text)
        assert await made_no_case(database, key)
        made = await _send_with_files(client, complaint_form(), [("scan.pdf", pdf()), ("photo.png", PNG)])
    assert made.status_code == 200, made.text
    receipt = receipt_of(made.text)
    listed = await eventually(lambda: _files(api, keys.cs_agent, receipt.reference))
    assert [(item["file_name"], item["media_type"]) for item in listed] == [
        ("scan.pdf", "application/pdf"), ("photo.png", "image/png")]


async def test_an_anonymous_reporter_answers_with_a_file_and_the_department_opens_it_unseen(
        public_site, api, keys):
    async with httpx.AsyncClient(base_url=public_site, follow_redirects=False) as client:
        made = await _send_with_files(client, anonymous_report_form(), [])
        receipt = receipt_of(made.text)
        await eventually(lambda: read_case(api, keys.cs_agent, receipt.reference))
        await act(api, keys.cs_agent, receipt.reference, "triage", {"department": DEPARTMENT})
        await act(api, keys.department, receipt.reference, "request-info", {"question": "A photo of the receipt?"})
        opened = await client.post("/track", data={"reference": receipt.reference,
                                                   "tracking_code": receipt.tracking_code})
        assert opened.status_code == 303
        page = await client.get("/track?lang=en")
        fields = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1),
                  "action_key": re.search(r'name="action_key" value="([^"]+)"', page.text).group(1),
                  "answer": "Here it is."}
        wrong = await client.post("/track/answer?lang=en", data=fields,
                                  files=[("files", ("receipt.pdf", EXECUTABLE, "application/pdf"))])
        assert wrong.status_code == 422 and 'id="files-error"' in wrong.text
        sent = await client.post("/track/answer?lang=en", data=fields,
                                 files=[("files", ("receipt.png", PNG, "image/png"))])
        assert sent.status_code == 303, sent.text
    listed = await eventually(lambda: _files(api, keys.department, receipt.reference))
    assert [item["file_name"] for item in listed] == ["receipt.png"]
    download = await api.get(f"/v1/cases/{receipt.reference}/files/{listed[0]['id']}", headers=bearer(keys.department))
    assert download.content == PNG
    seen = await read_case(api, keys.department, receipt.reference)
    assert seen["submitter"] is None and seen["channel_ref"] is None


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_files_are_chosen_in_chromium_with_the_form(public_site, browser, screenshots, api, keys,
                                                         language, tmp_path):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, base_url=public_site)
    page = await context.new_page()
    await page.goto(f"/?lang={language}")
    (tmp_path / "scan.pdf").write_bytes(pdf(uuid.uuid4().hex))
    await page.set_input_files("#files", [tmp_path / "scan.pdf"])
    await assert_accessible(page, f"public-submit-files-{language}")
    await _fill_and_send(page, complaint_form())
    receipt = receipt_of(await page.content())
    await page.screenshot(path=screenshots / f"public-submitted-with-files-{language}.png", full_page=True)
    await context.close()
    listed = await eventually(lambda: _files(api, keys.cs_agent, receipt.reference))
    assert [item["file_name"] for item in listed] == ["scan.pdf"]
