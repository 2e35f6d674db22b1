"""A job's PDFs through the API: the evidence, money and trail really on the page."""

from __future__ import annotations

import pytest

from tests.conftest import Env
from tests.documents.test_pdf import ReadPdf, read  # noqa: F401  (the fixture)
from tests.flows import START, to_state

pytestmark = pytest.mark.anyio


async def test_the_work_order_and_invoice_of_a_completed_job(env: Env, read: ReadPdf) -> None:  # noqa: F811
    jid = await to_state(env, "completed", start=START)
    r = await env.client.get(f"/api/v1/jobs/{jid}/documents/work-order.pdf", headers=env.h("tech1"))
    assert (r.status_code, r.headers["content-type"]) == (200, "application/pdf")
    page = read(r.content)
    assert len(page.pages) >= 1
    for words in ("CLM-1", "Lone Star Mutual", "Customer signature", "Alice Moreno"):
        assert words in page.text, words
    assert len(page.images) == 3  # before, after and the signature
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/payments", json={"method": "cash"}, headers=env.h("tech1")
    )
    assert r.status_code == 201
    r = await env.client.get(f"/api/v1/jobs/{jid}/documents/invoice.pdf", headers=env.h("customer"))
    invoice = read(r.content)
    assert "$250.00" in invoice.text  # the deductible, paid in cash
    assert "Balance due" in invoice.text and "$0.00" in invoice.line("Balance due")


async def test_an_invoice_waits_for_completion(env: Env) -> None:
    jid = await to_state(env, "in_progress", start=START)
    r = await env.client.get(f"/api/v1/jobs/{jid}/documents/invoice.pdf", headers=env.h("tech1"))
    assert (r.status_code, r.json()["error"]) == (409, "not_completed")


async def test_the_customers_copy_names_roles_not_staff_logins(env: Env, read: ReadPdf) -> None:  # noqa: F811
    jid = await to_state(env, "completed", start=START)
    office = await env.client.get(
        f"/api/v1/jobs/{jid}/documents/invoice.pdf", headers=env.h("dispatcher")
    )
    assert "dispatcher (dispatcher)" in read(office.content).text
    link = await env.client.post(f"/api/v1/jobs/{jid}/tracking-link", headers=env.h("dispatcher"))
    theirs = await env.client.get(f"/api/v1/track/{link.json()['token']}/invoice.pdf")
    text = read(theirs.content).text
    assert "Audit trail" in text
    assert "dispatcher (dispatcher)" not in text
    assert "tech1" not in text
