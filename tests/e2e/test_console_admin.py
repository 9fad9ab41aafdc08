"""The administrator's pages: accounts with one-time passwords, API keys, the department directory, the audit;
and the password a person must choose after a one-time one."""

import re
import uuid
from datetime import datetime

import pytest

from api.auth import find_caller
from api.service.staff import session_for
from domain.kinds import Role
from store.departments import find_department
from store.staff import user_with_login
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console import StaffAccount, csrf_of, new_staff, signed_in_client
from tests.e2e.console_language import signed_in_in

pytestmark = pytest.mark.asyncio


def new_login() -> str:
    return f"new-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_an_admin_makes_an_account_whose_one_time_password_must_be_changed_then_disables_it(
        served_api, browser, database, settings, screenshots, language):
    admin = await new_staff(database, Role.ADMIN)
    context, page = await signed_in_in(browser, served_api, admin, language)
    login = new_login()
    try:
        assert page.url.endswith("/console/admin/users")  # an admin's home
        await page.screenshot(path=screenshots / f"console-admin-users-{language}.png", full_page=True)
        await assert_accessible(page, f"console-admin-users-{language}")
        await page.fill("#new-login", login)
        await page.fill("#new-name", "Muna Al-Balushi")
        await page.select_option("#new-role", "call_centre")
        await page.click("form[action='/console/admin/users'] button[type=submit]")
        await page.wait_for_selector("#one-time-password")
        one_time = (await page.text_content("#one-time-password")).strip()
        await page.screenshot(path=screenshots / f"console-admin-user-created-{language}.png", full_page=True)
        await assert_accessible(page, f"console-admin-user-created-{language}")

        person = StaffAccount(login, one_time, Role.CALL_CENTRE)
        their_context, their_page = await signed_in_in(browser, served_api, person, language)
        try:
            # Sent to choose a password at once, and no other page opens until they have.
            assert their_page.url.endswith("/console/password")
            await their_page.screenshot(path=screenshots / f"console-password-{language}.png", full_page=True)
            await assert_accessible(their_page, f"console-password-{language}")
            await their_page.goto("/console/cases/new")
            assert their_page.url.endswith("/console/password")
            await their_page.goto("/console/admin/audit")
            assert their_page.url.endswith("/console/password")
            await their_page.fill("#current", one_time)
            await their_page.fill("#new", "short")
            await their_page.fill("#again", "short")
            await their_page.click("main button[type=submit]")
            assert await their_page.text_content("#new-error") == (
                "At least 12 characters." if language == "en" else "12 حرفًا على الأقل.")
            own = "a long and private passphrase"
            await their_page.fill("#current", one_time)
            await their_page.fill("#new", own)
            await their_page.fill("#again", own)
            await their_page.click("main button[type=submit]")
            await their_page.wait_for_url("**/console/cases/new")  # their home: the gate is open
            assert not (await user_with_login(database, login)).password_change_required
            token = next(c["value"] for c in await their_context.cookies() if c["name"] == "complaints_console")
            assert await session_for(database, settings, token) is not None

            await page.goto("/console/admin/users")
            await page.click(f"#user-{login} button[type=submit]")
            await page.wait_for_selector(f"#user-{login}")
            assert (await user_with_login(database, login)).disabled_at is not None
            assert await session_for(database, settings, token) is None  # their session ended with the account
            await their_page.goto("/console/password")
            assert "/console/sign-in" in their_page.url
        finally:
            await their_context.close()
    finally:
        await context.close()


async def test_a_refused_account_says_why_next_to_the_field_and_makes_nothing(served_api, database):
    admin = await new_staff(database, Role.ADMIN)
    async with signed_in_client(served_api, admin) as client:
        page = await client.get("/console/admin/users")
        taken = await client.post("/console/admin/users", data={
            "csrf_token": csrf_of(page.text), "login": admin.login, "name": "Someone", "role": "auditor"})
        officer = await client.post("/console/admin/users", data={
            "csrf_token": csrf_of(page.text), "login": new_login(), "name": "An officer", "role": "department"})
        forged = await client.post("/console/admin/users", data={
            "login": new_login(), "name": "No token", "role": "auditor"})
    assert taken.status_code == 422 and 'id="new-login-error">يوجد حساب آخر باسم المستخدم هذا.<' in taken.text
    assert officer.status_code == 422 and 'id="new-department-error">' in officer.text
    assert forged.status_code == 403


async def test_only_an_admin_opens_the_admin_pages(served_api, database):
    agent = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(served_api, agent) as client:
        for path in ("/console/admin/users", "/console/admin/keys", "/console/admin/departments",
                     "/console/admin/audit"):
            assert (await client.get(path)).status_code == 403, path


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_an_admin_makes_a_key_shown_once_and_revokes_it(served_api, browser, database, screenshots, language):
    admin = await new_staff(database, Role.ADMIN)
    context, page = await signed_in_in(browser, served_api, admin, language)
    try:
        await page.goto("/console/admin/keys")
        await page.screenshot(path=screenshots / f"console-admin-keys-{language}.png", full_page=True)
        await assert_accessible(page, f"console-admin-keys-{language}")
        await page.fill("#key-name", f"Email gateway {language}")
        await page.select_option("#key-role", "channel")
        await page.check("#channel-email")
        await page.click("form[action='/console/admin/keys'] button[type=submit]")
        await page.wait_for_selector("#new-key")
        key = (await page.text_content("#new-key")).strip()
        caller = await find_caller(database, key)
        assert caller is not None and caller.role == Role.CHANNEL and {c.value for c in caller.channels} == {"email"}
        await page.screenshot(path=screenshots / f"console-admin-key-created-{language}.png", full_page=True)
        await assert_accessible(page, f"console-admin-key-created-{language}")
        await page.click(f"#key-{caller.key_id} button[type=submit]")
        await page.wait_for_selector(f"#key-{caller.key_id}")
        assert await find_caller(database, key) is None
        assert await page.locator(f"#key-{caller.key_id} button").count() == 0
    finally:
        await context.close()


async def test_a_key_that_breaks_its_roles_rules_is_refused_at_the_field(served_api, database):
    admin = await new_staff(database, Role.ADMIN)
    async with signed_in_client(served_api, admin) as client:
        page = await client.get("/console/admin/keys")
        before = page.text.count('<tr id="key-')
        no_department = await client.post("/console/admin/keys", data={
            "csrf_token": csrf_of(page.text), "name": "An officer's key", "role": "department"})
        channels_for_auditor = await client.post("/console/admin/keys", data={
            "csrf_token": csrf_of(page.text), "name": "Odd", "role": "auditor", "channels": "phone"})
    assert no_department.status_code == 422
    assert 'id="key-department-error">مفتاح التقسيم المختص يحدد تقسيمه.<' in no_department.text
    assert channels_for_auditor.status_code == 422 and 'id="channels-error">' in channels_for_auditor.text
    assert channels_for_auditor.text.count('<tr id="key-') == before  # nothing was made


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_an_admin_adds_a_department(served_api, browser, database, screenshots, language):
    admin = await new_staff(database, Role.ADMIN)
    code = f"CONSOLE_{language.upper()}_{datetime.now():%H%M%S%f}"
    context, page = await signed_in_in(browser, served_api, admin, language)
    try:
        await page.goto("/console/admin/departments")
        await page.screenshot(path=screenshots / f"console-admin-departments-{language}.png", full_page=True)
        await assert_accessible(page, f"console-admin-departments-{language}")
        await page.fill("#new-code", code)
        await page.fill("#new-name_ar", "دائرة الاختبار")
        await page.fill("#new-name_en", "The test department")
        await page.fill("#new-email", "test.department@moi.gov.om")
        await page.click("form:has(#new-code) button[type=submit]")
        await page.wait_for_selector(f"#department-{code}")
        added = await find_department(database, code)
        assert added.name_en == "The test department" and added.active and added.email == "test.department@moi.gov.om"
        # It ends inactive, as the API tests' departments do, so other tests see the policy's directory.
        await page.uncheck(f"#dept-{code}-active")
        await page.click(f"#department-{code} button[type=submit]")
        await page.wait_for_selector(f"#department-{code}")
        assert not (await find_department(database, code)).active
    finally:
        await context.close()


async def test_a_department_form_refuses_a_bad_email_and_keeps_customer_service_active(served_api, database):
    admin = await new_staff(database, Role.ADMIN)
    async with signed_in_client(served_api, admin) as client:
        page = await client.get("/console/admin/departments")
        bad = await client.post("/console/admin/departments", data={
            "csrf_token": csrf_of(page.text), "adding": "yes", "code": "CONSOLE_BAD", "name_ar": "د",
            "name_en": "D", "email": "not an address", "active": "on"})
        service = await client.post("/console/admin/departments", data={
            "csrf_token": csrf_of(page.text), "code": "CS", "name_ar": "دائرة خدمة المراجعين",
            "name_en": "Customer service"})
    assert bad.status_code == 422 and 'id="new-email-error">ليس عنوان بريد إلكتروني صحيحًا.<' in bad.text
    assert await find_department(database, "CONSOLE_BAD") is None
    assert service.status_code == 409 and 'id="dept-CS-active-error">' in service.text
    assert (await find_department(database, "CS")).active


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_the_audit_page_shows_sign_ins_failures_and_locks(served_api, browser, database, screenshots, language):
    admin = await new_staff(database, Role.ADMIN)
    context, page = await signed_in_in(browser, served_api, admin, language)
    try:
        await page.goto(f"/console/admin/audit?login={admin.login}")
        rows = await page.locator("tbody tr").all_text_contents()
        assert any(admin.login in row and ("signed in" in row or "تسجيل دخول" in row) for row in rows)
        await page.screenshot(path=screenshots / f"console-admin-audit-{language}.png", full_page=True)
        await assert_accessible(page, f"console-admin-audit-{language}")
    finally:
        await context.close()


async def test_anyone_may_change_their_password(served_api, database, settings):
    auditor = await new_staff(database, Role.AUDITOR)
    async with signed_in_client(served_api, auditor) as client:
        page = await client.get("/console/password")
        assert page.status_code == 200
        differ = await client.post("/console/password", data={
            "csrf_token": csrf_of(page.text), "current": auditor.password, "new": "x" * 12, "again": "y" * 12})
        wrong = await client.post("/console/password", data={
            "csrf_token": csrf_of(page.text), "current": "not it", "new": "x" * 12, "again": "x" * 12})
        saved = await client.post("/console/password", data={
            "csrf_token": csrf_of(page.text), "current": auditor.password, "new": "x" * 12, "again": "x" * 12})
    assert differ.status_code == 422 and 'id="again-error">' in differ.text
    assert wrong.status_code == 422 and 'id="current-error">ليست كلمة المرور الحالية.<' in wrong.text
    assert saved.status_code == 200 and "حُفظت كلمة المرور الجديدة." in saved.text
    async with signed_in_client(served_api, StaffAccount(auditor.login, "x" * 12, Role.AUDITOR)):
        pass  # the new password signs in
    assert re.search("password_changed", str([e.event for e in await _audit(database, auditor.login)]))


async def _audit(database, login):
    from api.service.admin import audit_log

    return await audit_log(database, login=login)
