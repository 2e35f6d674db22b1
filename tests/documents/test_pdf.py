"""The work order and invoice PDFs, read back the way a person or an insurer's system would.

Each document is rasterised with poppler's pdftoppm (it must open and draw), its text is pulled out
with pdftotext (the figures must be real text), and its images are listed with pdfimages. Those
tests are skipped with a reason when poppler-utils is missing, unless
ROUTEBOARD_REQUIRE_SERVICES=1, where that fails the run.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageDraw, ImageFile

from routeboard.documents.pdf import (
    JobDocument,
    Line,
    PaymentLine,
    Picture,
    Signed,
    Step,
    render,
)
from tests.conftest import REQUIRE_SERVICES, T0
from tests.photos.pngs import blank_png

CHICAGO = ZoneInfo("America/Chicago")
POPPLER = ("pdftoppm", "pdftotext", "pdfimages")
CLAIM = "CLM-7781-TX"
SIGNER = "Maria Delgado"

WINDSHIELD = Line(
    description="Windshield, OEM acoustic, rain sensor and HUD, with moulding",
    part_number="FW05123GTYN",
    quantity=1,
    unit_price_cents=112_450,
    amount_cents=112_450,
)
LABOR = Line(
    description="Installation labor and ADAS camera recalibration",
    part_number=None,
    quantity=1,
    unit_price_cents=17_500,
    amount_cents=17_500,
)
SUBTOTAL = WINDSHIELD.amount_cents + LABOR.amount_cents
# 8.25 % Texas sales tax, rounded half up to the cent.
TAX = (SUBTOTAL * 825 + 5_000) // 10_000
TOTAL = SUBTOTAL + TAX
DEDUCTIBLE = 25_000
# The step whose printed time the tests look for: 11:42:07 in Dallas, 17:42:07 UTC.
COMPLETED_AT = T0 + timedelta(hours=5, minutes=42, seconds=7)


def dollars(cents: int) -> str:
    return f"${Decimal(cents) / 100:,.2f}"


def photo(color: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).ellipse((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), "white")
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def signature_png() -> bytes:
    # Ink on a transparent canvas, as the phone's signature pad exports it.
    image = Image.new("RGBA", (600, 180), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.line([(20, 140), (90, 40), (150, 130), (230, 50), (320, 120), (580, 60)], "black", 5)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def document(**changes: Any) -> JobDocument:
    doc = JobDocument(
        kind="work_order",
        number="WO-42",
        shop_name="Lone Star Mobile Glass",
        shop_address="4100 Harry Hines Blvd\nDallas, TX 75219",
        shop_phone="(214) 555-0188",
        customer_name="Maria Delgado",
        customer_phone="(469) 555-0142",
        customer_email="maria.delgado@example.com",
        site_address="2811 Maple Ave, Dallas, TX 75201 (parking garage level 2)",
        vehicle="2019 Toyota Camry",
        vin="4T1B11HK5KU812345",
        service_type="Windshield replacement",
        insurance_carrier="Safelite Claims / Progressive",
        claim_number=CLAIM,
        policy_number="PGR-55120934",
        lines=[WINDSHIELD, LABOR],
        subtotal_cents=SUBTOTAL,
        tax_cents=TAX,
        total_cents=TOTAL,
        insurer_share_cents=TOTAL - DEDUCTIBLE,
        customer_share_cents=DEDUCTIBLE,
        payments=[],
        pictures=[
            # A landscape shot of the cracked glass and a portrait one of the new windshield.
            Picture("before", photo("darkred", (1600, 1200)), T0 + timedelta(hours=4)),
            Picture("after", photo("navy", (900, 1200)), T0 + timedelta(hours=5, minutes=30)),
        ],
        signature=Signed(SIGNER, signature_png(), T0 + timedelta(hours=5, minutes=40)),
        steps=[
            Step(T0 - timedelta(days=2), "job.created", "dispatcher@lonestar.test", None, "quoted"),
            Step(T0, "job.scheduled", "dispatcher@lonestar.test", "quoted", "scheduled"),
            Step(T0 + timedelta(hours=3), "job.start_travel", "tech.ruiz", "scheduled", "en_route"),
            Step(T0 + timedelta(hours=4), "job.arrive", "tech.ruiz", "en_route", "in_progress"),
            Step(T0 + timedelta(hours=4, minutes=1), "photo.added", "tech.ruiz", None, None),
            Step(COMPLETED_AT, "job.complete", "tech.ruiz", "in_progress", "completed"),
        ],
        tz=CHICAGO,
        issued_at=T0 + timedelta(hours=6),
    )
    return replace(doc, **changes)


@dataclass(frozen=True)
class Read:
    text: str
    pages: list[Path]
    images: list[list[str]]  # pdfimages -list rows, split on whitespace

    def line(self, label: str) -> str:
        """The one text line carrying a label, so amounts are checked against the right row."""
        found = [ln for ln in self.text.splitlines() if label in ln]
        assert len(found) == 1, (label, found)
        return found[0]


ReadPdf = Callable[[bytes], Read]


@pytest.fixture
def read(tmp_path: Path) -> ReadPdf:
    missing = [tool for tool in POPPLER if shutil.which(tool) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (apt-get install poppler-utils)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} and ROUTEBOARD_REQUIRE_SERVICES=1")
        pytest.skip(reason)

    def run(*args: str) -> str:
        done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60)
        # poppler reports damaged files on stderr and still exits 0.
        assert done.stderr == "", done.stderr
        return done.stdout

    def read_pdf(data: bytes) -> Read:
        pdf = tmp_path / "document.pdf"
        pdf.write_bytes(data)
        run("pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page"))
        pages = sorted(tmp_path.glob("page-*.png"))
        for page in pages:
            with Image.open(page) as image:
                image.verify()
            with Image.open(page) as image:
                assert image.format == "PNG"
                assert image.width > 0 and image.height > 0
        listing = run("pdfimages", "-list", str(pdf)).splitlines()[2:]
        text = run("pdftotext", "-layout", str(pdf), "-")
        return Read(text=text, pages=pages, images=[row.split() for row in listing])

    return read_pdf


def test_work_order_prints_claim_money_photos_signature_and_trail(read: ReadPdf) -> None:
    got = read(render(document()))

    assert got.pages
    assert "Work order" in got.text and "WO-42" in got.text
    assert CLAIM in got.text
    assert "4T1B11HK5KU812345" in got.text
    assert dollars(TOTAL) == "$1,406.71"  # the fixture really exercises the thousands separator
    assert dollars(WINDSHIELD.amount_cents) in got.line("Windshield, OEM acoustic")
    assert got.line("Subtotal").split()[-1] == dollars(SUBTOTAL)
    assert got.line("Tax").split()[-1] == dollars(TAX)
    assert re.search(r"\bTotal\s+" + re.escape(dollars(TOTAL)) + r"\s*$", got.text, re.M)
    assert got.line("Insurance pays").split()[-1] == dollars(TOTAL - DEDUCTIBLE)
    assert got.line("Customer pays").split()[-1] == dollars(DEDUCTIBLE)
    # Payments and the balance belong to the invoice only.
    assert "Balance due" not in got.text

    assert "Customer signature" in got.text
    local = COMPLETED_AT.astimezone(CHICAGO)
    assert (local.hour, local.tzname()) == (11, "CST")
    assert "Dec 1, 2026 11:42:07 AM CST" in got.line("job.complete")
    assert "5:42:07 PM" not in got.text  # not printed in UTC
    assert f"Signed by {SIGNER} at Dec 1, 2026 11:40 AM CST" in got.text
    assert "Before · Dec 1, 2026 10:00 AM CST" in got.text
    assert "After · Dec 1, 2026 11:30 AM CST" in got.text
    assert "photo unreadable" not in got.text

    # Two thumbnails and the signature, each drawn with the same horizontal and vertical
    # resolution: scaled to fit without being stretched.
    assert len(got.images) == 3
    for row in got.images:
        x_ppi, y_ppi = row[12], row[13]
        assert x_ppi == y_ppi, row
    # Photos are shrunk before embedding rather than carrying the phone's full-size upload.
    photos = [row for row in got.images if row[8] == "jpeg"]
    assert len(photos) == 2
    assert all(max(int(row[3]), int(row[4])) <= 480 for row in photos)


def test_invoice_balance_due_counts_only_succeeded_payments(read: ReadPdf) -> None:
    payments = [
        PaymentLine("card", 10_000, "succeeded", T0 + timedelta(hours=6)),
        PaymentLine("card", 15_000, "failed", T0 + timedelta(hours=6, minutes=2)),
        PaymentLine("cash", 2_500, "pending", T0 + timedelta(hours=6, minutes=3)),
    ]
    doc = document(kind="invoice", number="INV-2026-000017", payments=payments)

    got = read(render(doc))

    assert "Invoice" in got.text and "INV-2026-000017" in got.text
    assert got.line("Payments received").split()[-1] == dollars(10_000)
    assert got.line("Balance due").split()[-1] == dollars(DEDUCTIBLE - 10_000)
    assert dollars(DEDUCTIBLE - 10_000) == "$150.00"
    assert "failed" in got.text and "pending" in got.text


def test_unsigned_document_keeps_the_block_and_says_not_signed(read: ReadPdf) -> None:
    got = read(render(document(signature=None)))

    assert "Customer signature" in got.text
    assert "Not signed" in got.text
    assert "Signed by" not in got.text
    assert len(got.images) == 2


def test_corrupt_photo_is_listed_and_the_rest_still_renders(read: ReadPdf) -> None:
    good, _ = document().pictures
    broken = Picture("after", b"\xff\xd8\xff\xe0 truncated upload", T0 + timedelta(hours=5))

    got = read(render(document(pictures=[good, broken])))

    assert "photo unreadable" in got.text
    assert "After · Dec 1, 2026 11:00 AM CST" in got.text
    assert CLAIM in got.text
    assert len(got.images) == 2  # the good photo and the signature


def test_images_over_the_pixel_limits_are_not_decoded(
    read: ReadPdf, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stored before uploads had pixel limits: 40 MP for a photo, 4 MP for a signature.
    good, _ = document().pictures
    huge = Picture("after", blank_png(6400, 6251), T0 + timedelta(hours=5))
    scrawl = Signed(SIGNER, blank_png(2000, 2001), T0 + timedelta(hours=5, minutes=40))
    decoded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def spy(image: ImageFile.ImageFile) -> Any:
        decoded.append(image.size)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)

    got = read(render(document(pictures=[good, huge], signature=scrawl)))

    assert "photo too large to print" in got.text
    assert "signature image too large to print" in got.text
    assert "After · Dec 1, 2026 11:00 AM CST" in got.text
    assert len(got.images) == 1  # the good photo
    assert decoded and all(w * h <= 40_000_000 for w, h in decoded), decoded
    assert (6400, 6251) not in decoded and (2000, 2001) not in decoded


def test_photo_is_turned_upright_by_its_exif_orientation(read: ReadPdf) -> None:
    # Phones save a portrait shot as landscape pixels plus "rotate 90°" in EXIF.
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (400, 300), "teal").save(out, format="JPEG", exif=exif)
    sideways = Picture("after", out.getvalue(), T0 + timedelta(hours=5))

    got = read(render(document(pictures=[sideways], signature=None)))

    (row,) = got.images
    assert (int(row[3]), int(row[4])) == (300, 400)


def test_without_insurance_there_is_no_insurance_block(read: ReadPdf) -> None:
    doc = document(
        insurance_carrier=None,
        claim_number=None,
        policy_number=None,
        insurer_share_cents=0,
        customer_share_cents=TOTAL,
    )

    got = read(render(doc))

    assert "INSURANCE" not in got.text and "Claim number" not in got.text
    assert got.line("Customer pays").split()[-1] == dollars(TOTAL)


def test_markup_characters_in_names_print_as_typed(read: ReadPdf) -> None:
    got = read(render(document(customer_name="Ruiz & Sons <Fleet>")))

    assert "Ruiz & Sons <Fleet>" in got.text


def test_same_input_gives_the_same_bytes() -> None:
    assert render(document()) == render(document())


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        render(document(issued_at=datetime(2026, 12, 1, 12, 0)))
