"""PDF rendering of a job's signed work order and its invoice.

Pure: frozen dataclasses in, PDF bytes out, nothing read from the database or the disk. Services
gather the job, its evidence and its audit trail into a JobDocument and call render() in a worker
thread, since decoding photos and laying out pages is CPU work. Images are decoded only within
the upload pixel limits (photos.image) and shrunk before embedding.

Only reportlab's built-in Helvetica is used, so no font files or system libraries are needed and
pdftotext (or an insurer's claims system) can extract the text. Those fonts cover Windows-1252
only: characters outside it print as a box rather than failing the document.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from PIL import Image as PILImage
from PIL import ImageOps
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from routeboard.errors import InvalidInput
from routeboard.photos.image import PHOTO_MAX_PIXELS, SIGNATURE_MAX_PIXELS, open_image


@dataclass(frozen=True)
class Line:
    description: str
    part_number: str | None
    quantity: int
    unit_price_cents: int
    amount_cents: int


@dataclass(frozen=True)
class Picture:
    kind: str  # "before" | "after"
    content: bytes  # JPEG, PNG or WebP exactly as uploaded
    taken_at: datetime


@dataclass(frozen=True)
class Signed:
    signer_name: str
    image: bytes  # PNG drawn on the technician's phone
    signed_at: datetime


@dataclass(frozen=True)
class Step:
    at: datetime
    action: str
    actor: str
    from_state: str | None
    to_state: str | None


@dataclass(frozen=True)
class PaymentLine:
    method: str
    amount_cents: int
    status: str
    at: datetime


@dataclass(frozen=True)
class JobDocument:
    kind: Literal["work_order", "invoice"]
    number: str
    shop_name: str
    shop_address: str | None
    shop_phone: str | None
    customer_name: str
    customer_phone: str | None
    customer_email: str | None
    site_address: str
    vehicle: str
    vin: str
    service_type: str
    insurance_carrier: str | None
    claim_number: str | None
    policy_number: str | None
    lines: Sequence[Line]
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    insurer_share_cents: int
    customer_share_cents: int
    payments: Sequence[PaymentLine]
    pictures: Sequence[Picture]
    signature: Signed | None
    steps: Sequence[Step]
    tz: ZoneInfo
    issued_at: datetime


TITLES = {"work_order": "Work order", "invoice": "Invoice"}
# Only settled money reduces what the customer owes; pending and failed attempts are listed anyway.
SUCCEEDED = "succeeded"

MARGIN = 0.6 * inch
# SimpleDocTemplate's frame keeps 6 pt of padding inside the margins; full-width tables must fit
# inside it or reportlab centres them overhanging both edges.
FRAME_PADDING = 6
LEFT = MARGIN + FRAME_PADDING
WIDTH = LETTER[0] - 2 * LEFT
PHOTO_COLUMNS = 3
PHOTO_BOX = (160.0, 120.0)
SIGNATURE_BOX = (220.0, 70.0)
# About 200 dpi at the printed size: sharp on paper while a 12 MP phone photo shrinks to ~50 KB.
PHOTO_MAX_PX = 480
SIGNATURE_MAX_PX = 640
# Spelled out so the output does not depend on the process locale.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
RULE = colors.HexColor("#cbd2d9")
SHADE = colors.HexColor("#eef1f4")

BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=9, leading=11.5, textColor=INK)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10, textColor=MUTED)
STRONG = ParagraphStyle("strong", parent=BODY, fontName="Helvetica-Bold")
LABEL = ParagraphStyle(
    "label", parent=SMALL, fontName="Helvetica-Bold", spaceAfter=2, textColor=MUTED
)
SHOP = ParagraphStyle("shop", parent=BODY, fontName="Helvetica-Bold", fontSize=15, leading=19)
TITLE = ParagraphStyle("title", parent=SHOP, fontSize=18, leading=22, alignment=TA_RIGHT)
RIGHT = ParagraphStyle("right", parent=BODY, alignment=TA_RIGHT)
RIGHT_STRONG = ParagraphStyle("right_strong", parent=STRONG, alignment=TA_RIGHT)
HEADING = ParagraphStyle(
    "heading",
    parent=BODY,
    fontName="Helvetica-Bold",
    fontSize=11,
    leading=14,
    spaceBefore=12,
    spaceAfter=4,
)

# Typed loosely: the stubs spell a table command as a tuple that literals do not infer to.
GRID: list[tuple[Any, ...]] = [
    ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8.5),
    ("TEXTCOLOR", (0, 0), (-1, -1), INK),
    ("BACKGROUND", (0, 0), (-1, 0), SHADE),
    ("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("TOPPADDING", (0, 0), (-1, -1), 3),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
]


def render(doc: JobDocument) -> bytes:
    """Lay out the document as PDF; the same input always gives the same bytes."""
    title = TITLES[doc.kind]
    out = io.BytesIO()
    template = SimpleDocTemplate(
        out,
        pagesize=LETTER,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"{title} {doc.number}",
        author=doc.shop_name,
        subject=f"{doc.vehicle} {doc.vin}",
        creator="Routeboard",
        # Fixed creation date and file id, so rendering the same job twice gives the same bytes:
        # a copy sent to an insurer can be compared with, or hashed against, a later re-render.
        invariant=1,
    )

    def footer(canvas: Canvas, _template: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(LEFT, MARGIN / 2, f"{doc.shop_name} · {title} {doc.number}")
        canvas.drawRightString(LETTER[0] - LEFT, MARGIN / 2, f"Page {canvas.getPageNumber()}")
        canvas.restoreState()

    story: list[Flowable] = [
        _header(doc, title),
        Spacer(1, 10),
        _parties(doc),
        *_section("Work", 80),
        _line_items(doc.lines),
        Spacer(1, 6),
        _totals(doc),
    ]
    if doc.kind == "invoice":
        story += _payments(doc)
    story += _photos(doc)
    story.append(_signature(doc))
    story += _audit_trail(doc)
    template.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _section(title: str, need: float) -> list[Flowable]:
    """A section title that moves to the next page unless `need` points of its content fit.

    Not keepWithNext: that keeps the title with the whole following table, so a long audit trail
    would leave most of a page blank rather than start under its title.
    """
    return [CondPageBreak(need), Paragraph(title, HEADING)]


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def _when(at: datetime, tz: ZoneInfo, *, seconds: bool = False) -> str:
    # A naive value would be read as the server's local time and print a wrong, plausible hour.
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: document times must be aware")
    local = at.astimezone(tz)
    hour = local.hour % 12 or 12
    clock = f"{hour}:{local:%M:%S}" if seconds else f"{hour}:{local:%M}"
    noon = "AM" if local.hour < 12 else "PM"
    month = MONTHS[local.month - 1]
    return f"{month} {local.day}, {local.year} {clock} {noon} {local.tzname()}"


def _p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    # Paragraph parses its text as markup: a customer called "A & B <Glass>" must print as typed.
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _header(doc: JobDocument, title: str) -> Table:
    shop: list[Flowable] = [_p(doc.shop_name, SHOP)]
    shop += [_p(v) for v in (doc.shop_address, doc.shop_phone) if v]
    heading = [
        _p(title, TITLE),
        _p(doc.number, RIGHT_STRONG),
        _p(f"Date: {_when(doc.issued_at, doc.tz)}", RIGHT),
    ]
    table = Table([[shop, heading]], colWidths=[WIDTH * 0.6, WIDTH * 0.4])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
                ("LINEBELOW", (0, 0), (-1, 0), 1, INK),
            ]
        )
    )
    return table


def _parties(doc: JobDocument) -> Table:
    customer: list[Flowable] = [_p("CUSTOMER", LABEL), _p(doc.customer_name, STRONG)]
    customer += [_p(v) for v in (doc.customer_phone, doc.customer_email) if v]
    customer += [_p("Service address", LABEL), _p(doc.site_address)]
    vehicle = [
        _p("VEHICLE", LABEL),
        _p(doc.vehicle, STRONG),
        _p(f"VIN: {doc.vin}"),
        _p(f"Service: {doc.service_type}"),
    ]
    blocks = [customer, vehicle]
    if doc.insurance_carrier or doc.claim_number or doc.policy_number:
        blocks.append(
            [
                _p("INSURANCE", LABEL),
                _p(doc.insurance_carrier or "Carrier not given", STRONG),
                _p(f"Claim number: {doc.claim_number or '—'}"),
                _p(f"Policy number: {doc.policy_number or '—'}"),
            ]
        )
    table = Table([blocks], colWidths=[WIDTH / len(blocks)] * len(blocks))
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
            ]
        )
    )
    return table


def _line_items(lines: Sequence[Line]) -> Table:
    numbers = [80.0, 36.0, 72.0, 72.0]
    rows: list[list[Any]] = [["Description", "Part no.", "Qty", "Unit price", "Amount"]]
    rows += [
        [
            _p(line.description),
            _p(line.part_number or ""),
            str(line.quantity),
            _money(line.unit_price_cents),
            _money(line.amount_cents),
        ]
        for line in lines
    ]
    style = [*GRID, ("ALIGN", (2, 0), (-1, -1), "RIGHT")]
    if not lines:
        rows.append(["No line items.", "", "", "", ""])
        style.append(("SPAN", (0, 1), (-1, 1)))
    table = Table(rows, colWidths=[WIDTH - sum(numbers), *numbers], repeatRows=1)
    table.setStyle(TableStyle(style))
    return table


def _summary(rows: list[tuple[str, str]], *, strong: Sequence[int] = ()) -> Table:
    """Label/amount pairs right-aligned under a table, like the foot of a paper invoice."""
    table = Table([list(r) for r in rows], colWidths=[130, 90], hAlign="RIGHT")
    style: list[Any] = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for i in strong:
        style += [
            ("FONT", (0, i), (-1, i), "Helvetica-Bold", 9.5),
            ("LINEABOVE", (0, i), (-1, i), 0.75, INK),
        ]
    table.setStyle(TableStyle(style))
    return table


def _totals(doc: JobDocument) -> Table:
    return _summary(
        [
            ("Subtotal", _money(doc.subtotal_cents)),
            ("Tax", _money(doc.tax_cents)),
            ("Total", _money(doc.total_cents)),
            ("Insurance pays", _money(doc.insurer_share_cents)),
            ("Customer pays", _money(doc.customer_share_cents)),
        ],
        strong=(2,),
    )


def _payments(doc: JobDocument) -> list[Flowable]:
    received = sum(p.amount_cents for p in doc.payments if p.status == SUCCEEDED)
    flowables: list[Flowable] = _section("Payments", 80)
    if doc.payments:
        rows: list[list[Any]] = [["Date", "Method", "Status", "Amount"]]
        rows += [
            [_when(p.at, doc.tz), _p(p.method), p.status, _money(p.amount_cents)]
            for p in doc.payments
        ]
        table = Table(rows, colWidths=[WIDTH - 280, 120, 80, 80], repeatRows=1)
        table.setStyle(TableStyle([*GRID, ("ALIGN", (3, 0), (3, -1), "RIGHT")]))
        flowables.append(table)
    else:
        flowables.append(_p("No payments recorded.", SMALL))
    flowables += [
        Spacer(1, 6),
        _summary(
            [
                ("Payments received", _money(received)),
                ("Balance due", _money(doc.customer_share_cents - received)),
            ],
            strong=(1,),
        ),
    ]
    return flowables


def _fit(
    content: bytes, box: tuple[float, float], max_px: int, fmt: str, pixel_limit: int
) -> Image | str:
    """The image re-encoded small, upright and opaque, sized to fit the box; or, when it cannot
    be printed, why not."""
    try:
        # An image over the upload limit (stored before there was one) is refused from its
        # header, so one document never decodes hundreds of megabytes.
        with open_image(content, max_pixels=pixel_limit) as source:
            # JPEG can decode at 1/2, 1/4 or 1/8 scale: far faster than decoding 12 MP to shrink.
            source.draft("RGB", (max_px, max_px))
            # Phones store portrait shots sideways plus an EXIF rotation that PDFs ignore.
            picture = ImageOps.exif_transpose(source)
            picture.thumbnail((max_px, max_px))
            if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
                rgba = picture.convert("RGBA")
                picture = PILImage.new("RGB", rgba.size, "white")
                picture.paste(rgba, mask=rgba.getchannel("A"))
            else:
                picture = picture.convert("RGB")
            encoded = io.BytesIO()
            if fmt == "JPEG":
                picture.save(encoded, format="JPEG", quality=85)
            else:
                picture.save(encoded, format=fmt)
            scale = min(box[0] / picture.width, box[1] / picture.height)
    except InvalidInput as exc:
        return "too large to print" if exc.code == "image_too_large" else "unreadable"
    # Pillow's decoders raise many unrelated types on damaged input (its own fuzzers catch
    # Exception); one bad upload must not cost the customer their whole document.
    except Exception:
        return "unreadable"
    encoded.seek(0)
    return Image(encoded, width=picture.width * scale, height=picture.height * scale)


def _photos(doc: JobDocument) -> list[Flowable]:
    heading = _section("Photos", PHOTO_BOX[1] + 50)
    if not doc.pictures:
        return [*heading, _p("No photos.", SMALL)]
    # Before shots first so the damage and the repair read in order.
    order = {"before": 0, "after": 1}
    pictures = sorted(doc.pictures, key=lambda p: (order.get(p.kind, 2), p.taken_at))
    cells: list[list[Flowable]] = []
    for picture in pictures:
        image = _fit(picture.content, PHOTO_BOX, PHOTO_MAX_PX, "JPEG", PHOTO_MAX_PIXELS)
        caption = _p(f"{picture.kind.capitalize()} · {_when(picture.taken_at, doc.tz)}", SMALL)
        if isinstance(image, str):
            cells.append([_p(f"photo {image}", STRONG), caption])
        else:
            cells.append([image, caption])
    rows: list[list[Any]] = [
        list(cells[i : i + PHOTO_COLUMNS]) for i in range(0, len(cells), PHOTO_COLUMNS)
    ]
    rows[-1] += [""] * (PHOTO_COLUMNS - len(rows[-1]))
    table = Table(rows, colWidths=[WIDTH / PHOTO_COLUMNS] * PHOTO_COLUMNS, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    return [*heading, table]


def _signature(doc: JobDocument) -> Flowable:
    # The block is printed even when unsigned: a blank is visibly missing, an absent block is not.
    block: list[Flowable] = [Paragraph("Customer signature", HEADING)]
    signed = doc.signature
    if signed is None:
        block.append(_p("Not signed", STRONG))
        return KeepTogether(block)
    image = _fit(signed.image, SIGNATURE_BOX, SIGNATURE_MAX_PX, "PNG", SIGNATURE_MAX_PIXELS)
    if isinstance(image, str):
        block.append(_p(f"signature image {image}", SMALL))
    else:
        image.hAlign = "LEFT"
        block.append(image)
    line = Table([[""]], colWidths=[SIGNATURE_BOX[0]], rowHeights=[2], hAlign="LEFT")
    line.setStyle(TableStyle([("LINEABOVE", (0, 0), (-1, 0), 0.75, INK)]))
    block += [
        line,
        _p(f"Signed by {signed.signer_name} at {_when(signed.signed_at, doc.tz)}"),
    ]
    return KeepTogether(block)


def _audit_trail(doc: JobDocument) -> list[Flowable]:
    heading = _section("Audit trail", 80)
    if not doc.steps:
        return [*heading, _p("No recorded steps.", SMALL)]
    rows: list[list[Any]] = [["Time", "Action", "By", "From", "To"]]
    rows += [
        [
            _when(step.at, doc.tz, seconds=True),
            _p(step.action),
            _p(step.actor),
            _p(step.from_state or ""),
            _p(step.to_state or ""),
        ]
        for step in doc.steps
    ]
    # The time column fits "Sep 30, 2026 12:00:00 PM CDT" on one line; actor emails get the rest.
    widths = [142.0, 100.0, 0.0, 64.0, 64.0]
    widths[2] = WIDTH - sum(widths)
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(GRID))
    return [*heading, table]
