"""Money arithmetic in integer cents."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from routeboard.quotes.pricing import rate_to_bp, split, totals


def test_texas_sales_tax_rounds_half_up_once() -> None:
    assert totals([59000], 825).tax_cents == 4868  # 4867.5 -> 4868
    assert rate_to_bp(Decimal("0.0825")) == 825


@given(st.lists(st.integers(0, 10_000_000), max_size=50), st.integers(0, 2500))
def test_totals_add_up(amounts: list[int], bp: int) -> None:
    t = totals(amounts, bp)
    assert t.subtotal_cents == sum(amounts)
    assert t.total_cents == t.subtotal_cents + t.tax_cents
    assert abs(t.tax_cents * 10_000 - t.subtotal_cents * bp) <= 5_000


@given(st.integers(0, 10_000_000), st.one_of(st.none(), st.integers(0, 10_000_000)))
def test_split_is_whole_and_never_negative(total: int, deductible: int | None) -> None:
    insurer, customer = split(total, deductible)
    assert insurer + customer == total
    assert insurer >= 0 and customer >= 0
    if deductible is None:
        assert insurer == 0
