"""A signed-in browser tab in the language a test asks for: the console's switch keeps it with the session."""

from playwright.async_api import Browser, BrowserContext, Page

from tests.e2e.console import StaffAccount, signed_in_page


async def signed_in_in(browser: Browser, base_url: str, account: StaffAccount, language: str, *,
                       first_page: str | None = None) -> tuple[BrowserContext, Page]:
    """Signed in through the form, on `first_page` (else where sign-in leads), then switched to `language`
    (sign-in opens the session in the default language, Arabic)."""
    context, page = await signed_in_page(browser, base_url, account, language=language)
    if first_page:
        await page.goto(first_page)
    if await page.get_attribute("html", "lang") != language:
        await page.click("header form[action='/console/language'] button")
        await page.wait_for_load_state()
    assert await page.get_attribute("html", "lang") == language
    return context, page
