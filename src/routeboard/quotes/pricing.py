"""Quote and invoice arithmetic in integer cents; no floats touch money."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Totals:
    subtotal_cents: int
    tax_cents: int
    total_cents: int


def line_amount(quantity: int, unit_price_cents: int) -> int:
    return quantity * unit_price_cents


def totals(amounts: list[int], tax_rate_bp: int) -> Totals:
    """Tax is rounded half-up once on the subtotal, as a receipt shows it."""
    subtotal = sum(amounts)
    tax = int((Decimal(subtotal) * tax_rate_bp / 10_000).quantize(Decimal(1), ROUND_HALF_UP))
    return Totals(subtotal, tax, subtotal + tax)


def rate_to_bp(rate: Decimal) -> int:
    """0.0825 -> 825 basis points of a percent (hundredths of a percent)."""
    return int((rate * 10_000).quantize(Decimal(1), ROUND_HALF_UP))


def split(total_cents: int, deductible_cents: int | None) -> tuple[int, int]:
    """(insurer share, customer share): the customer pays the deductible, capped at the total."""
    if deductible_cents is None:
        return 0, total_cents
    customer = min(total_cents, max(deductible_cents, 0))
    return total_cents - customer, customer
