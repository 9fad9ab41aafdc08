"""What the console's tests share: staff accounts made for a test, and a browser or HTTP client signed in."""

import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from playwright.async_api import Browser, BrowserContext, Page

from api.service.staff import create_account
from domain.kinds import Role
from store.db import Database


@dataclass(frozen=True)
class StaffAccount:
    login: str
    password: str
    role: Role
    department: str | None = None


async def new_staff(database: Database, role: Role, department: str | None = None, *,
                    name: str | None = None) -> StaffAccount:
    """A fresh account (its own login, so tests never share a lock or a session)."""
    login = f"{role.value}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    await create_account(database, login=login, name=name or f"Test {role.value}", role=role,
                         department=department, password=password)
    return StaffAccount(login, password, role, department)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@asynccontextmanager
async def signed_in_client(base_url: str, account: StaffAccount) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with a console session, as a browser without JavaScript has one."""
    # A page may take seconds on a loaded machine (the whole suite beside it); a wait is no failure here.
    async with httpx.AsyncClient(base_url=base_url, follow_redirects=False, timeout=30) as client:
        form = await client.get("/console/sign-in")
        answer = await client.post("/console/sign-in", data={
            "login": account.login, "password": account.password, "csrf_token": csrf_of(form.text)})
        assert answer.status_code == 303, answer.text
        yield client


async def signed_in_page(browser: Browser, base_url: str, account: StaffAccount, *, language: str = "ar",
                         width: int = 1280) -> tuple[BrowserContext, Page]:
    """A browser tab signed in as `account` through the sign-in form."""
    context = await browser.new_context(viewport={"width": width, "height": 900}, base_url=base_url)
    page = await context.new_page()
    await page.goto(f"/console/sign-in?lang={language}")
    await page.fill("#login", account.login)
    await page.fill("#password", account.password)
    await page.click("button[type=submit]:not(.btn-outline-secondary)")
    await page.wait_for_load_state()
    return context, page
