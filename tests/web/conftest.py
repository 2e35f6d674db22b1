"""Debian's Chromium for the page tests, driven by Playwright (never a downloaded browser).

Skipped with a reason when Playwright or Chromium is missing, unless
ROUTEBOARD_REQUIRE_SERVICES=1, where that fails the run.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import PASSWORD, REQUIRE_SERVICES

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    reason = _missing()
    if reason:
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} and ROUTEBOARD_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@asynccontextmanager
async def signed_in(browser: Browser, base: str, username: str, path: str) -> AsyncIterator[Page]:
    """A desktop browser signed in as ``username`` through the login form, showing ``path``."""
    context = await browser.new_context(base_url=base)
    try:
        page = await context.new_page()
        await page.goto(f"/login?next={path}")
        await page.fill("input[name=username]", username)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(re.compile(re.escape(path) + "$"))
        yield page
    finally:
        await context.close()
