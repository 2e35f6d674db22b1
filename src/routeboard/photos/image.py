"""Uploaded images judged from their header, before a single pixel is decoded.

An image of one colour compresses about 1000:1, so the byte cap bounds the upload but not what
decoding it costs: a 137 kB PNG can be 144 megapixels, over half a gigabyte once decoded. Pillow
reads format and size lazily, so the pixel count is checked first, and every path that decodes
(the upload check, the customer's re-encoded copy, the PDF) opens through ``open_image``.

Pure and CPU-bound: callers on the event loop run these in a worker thread. ADR 0017.
"""

from __future__ import annotations

import io
from collections.abc import Collection

from PIL import Image, ImageOps, UnidentifiedImageError

from routeboard.errors import InvalidInput

FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
# A phone's usual 12 MP shot fits with room to spare, and so do 24-32 MP cameras; a 48-50 MP
# full-resolution shot does not, but its 12-25 MB JPEG is past the default byte cap anyway. The
# technician app itself sends 1600 px (2 MP). Decoding the largest costs 160 MB (Pillow keeps RGB
# at 4 bytes a pixel) for a moment.
PHOTO_MAX_PIXELS = 40_000_000
# The app's pad is 640x260 (0.17 MP); 4 MP leaves room for a tablet-wide pad at double density.
SIGNATURE_MAX_PIXELS = 4_000_000


def _too_large(max_pixels: int, size: tuple[int, int] | None = None) -> InvalidInput:
    limit = f"at most {max_pixels // 1_000_000} megapixels ({max_pixels:,} pixels)"
    if size is None:
        # Pillow refused while reading the header and keeps the size to itself.
        message = f"the image has far too many pixels; the limit is {limit}"
        details: dict[str, int] = {"max_pixels": max_pixels}
    else:
        width, height = size
        megapixels = width * height / 1_000_000
        message = (
            f"the image is {width}x{height} ({megapixels:.1f} megapixels); the limit is {limit}"
        )
        details = {"width": width, "height": height, "max_pixels": max_pixels}
    return InvalidInput(message, code="image_too_large", details=details)


def open_image(content: bytes, *, max_pixels: int) -> Image.Image:
    """The image with only its header read; InvalidInput if unreadable or over ``max_pixels``.

    Pillow's own bomb check fires first for sizes past its (larger) limit: DecompressionBombError
    past 179 MP, and past 89 MP a warning, which is an exception only where warnings are errors
    (the tests). Either way the image is already over every limit here.
    """
    try:
        image = Image.open(io.BytesIO(content))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput("the file is not a readable image", code="invalid_image") from exc
    if image.width * image.height > max_pixels:
        image.close()
        raise _too_large(max_pixels, image.size)
    return image


def check_image(
    content: bytes, *, max_pixels: int, allowed: Collection[str] = frozenset(FORMATS)
) -> str:
    """The image format by content, not by name or header; InvalidInput if not an allowed image
    (``invalid_image``) or if it has more than ``max_pixels`` (``image_too_large``)."""
    with open_image(content, max_pixels=max_pixels) as image:
        fmt = image.format or ""
        if fmt not in allowed:
            raise InvalidInput(
                f"{fmt or 'this'} images are not accepted; send {', '.join(sorted(allowed))}",
                code="invalid_image",
            )
        try:
            image.verify()
        except (OSError, SyntaxError, ValueError) as exc:
            raise InvalidInput("the file is not a readable image", code="invalid_image") from exc
    return fmt


def strip_metadata(content: bytes) -> bytes:
    """The picture alone: orientation applied, then re-encoded with no EXIF (GPS, device, time).

    Customers receive this; the office keeps the original, whose hash is in the audit trail.
    """
    with open_image(content, max_pixels=PHOTO_MAX_PIXELS) as img:
        fmt = img.format or "JPEG"
        upright = ImageOps.exif_transpose(img)
        clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    out = io.BytesIO()
    clean.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()
