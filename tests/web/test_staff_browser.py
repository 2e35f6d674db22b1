"""Staff pages in Chromium: the day's pulse in one tap and a feature poll ranked on the board, and
an admin rewording a customer message; what the server keeps is what was done on the page."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.conftest import Env
from tests.events.live import serving
from tests.web.conftest import signed_in
from tests.web.test_board_browser import SQLITE_ONLY, board_page

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = pytest.mark.anyio


@SQLITE_ONLY
async def test_the_dispatcher_answers_the_pulse_and_ranks_a_poll_on_the_board(
    env: Env, browser: Browser
) -> None:
    from playwright.async_api import expect

    poll = {"question": "What should we build next?", "options": ["Route map", "Parts", "Payroll"]}
    created = await env.client.post("/api/v1/polls", json=poll, headers=env.h("admin"))
    poll_id = created.json()["id"]
    async with serving(env.app) as base, board_page(browser, base) as board:
        page = board.page
        voice = page.locator("#voice")
        await expect(voice).to_be_visible()
        await expect(voice.locator(".voice-pulse h3")).to_have_text(
            "Was today's schedule realistic?"
        )
        await voice.locator("button[data-score='2']").click()
        await expect(voice.locator(".voice-pulse .voice-note")).to_contain_text(
            "you answered 2 of 5"
        )
        await expect(voice.locator("button[data-score='2']")).to_have_attribute(
            "aria-pressed", "true"
        )
        card = voice.locator(f".voice-poll[data-poll-id='{poll_id}']")
        await expect(card.locator(".voice-option-name")).to_have_text(
            ["Route map", "Parts", "Payroll"]
        )
        await card.get_by_label("Move Payroll up").click()
        await card.get_by_label("Move Payroll up").click()
        await expect(card.locator(".voice-option-name")).to_have_text(
            ["Payroll", "Route map", "Parts"]
        )
        await card.locator(".voice-send").click()
        await expect(card.locator("[role=status]")).to_contain_text("Vote counted (1 so far)")
        await expect(card.locator("[role=status]")).to_contain_text("Leading: Payroll")
    [(role, score)] = await env.sql("SELECT role, score FROM pulse_answers")
    assert (role, score) == ("dispatcher", 2)
    [(ranking,)] = await env.sql("SELECT ranking FROM poll_votes")
    assert (json.loads(ranking) if isinstance(ranking, str) else ranking) == [2, 0, 1]


@SQLITE_ONLY
async def test_an_admin_rewords_a_message_and_is_told_what_is_wrong(
    env: Env, browser: Browser
) -> None:
    from playwright.async_api import expect

    async with (
        serving(env.app) as base,
        signed_in(browser, base, "admin", "/admin/templates") as page,
    ):
        card = page.locator(".template-card[data-kind='running_late']")
        await card.locator(".body").fill("Sorry {{ frist_name }}, new time {{ eta }}")
        await card.locator(".save").click()
        await expect(card.locator(".error")).to_contain_text("unknown variables: frist_name")
        await card.locator(".body").fill("Sorry {{ first_name }}, new time {{ eta }}")
        await card.locator(".save").click()
        await expect(card.locator(".saved")).to_have_text("Saved.")
        await expect(card.locator(".error")).to_be_hidden()
        await expect(card.locator(".preview")).to_have_text("Sorry Dana, new time 10:42 AM")
        await expect(card.locator(".custom-flag")).to_have_text("customised")
    [(body,)] = await env.sql("SELECT body FROM message_templates WHERE kind = 'running_late'")
    assert body == "Sorry {{ first_name }}, new time {{ eta }}"
