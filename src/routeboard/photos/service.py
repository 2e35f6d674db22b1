"""Evidence on a job: before/after photos and the customer's signature.

Files are checked by content (Pillow) and pixel count (photos.image), stored under generated
names, and their SHA-256 goes into the audit entry so a photo swapped on disk later no longer
matches the trail. Checking and hashing run in a worker thread; the database work stays here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from pathlib import Path

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.access import access_job, load_job_for_field_work
from routeboard.audit.service import append_audit
from routeboard.deps import Actor
from routeboard.errors import Conflict, Hidden, InvalidInput
from routeboard.events.schemas import EvidenceAdded
from routeboard.events.service import record_event
from routeboard.models import Job, Photo, Signature
from routeboard.photos.image import (
    FORMATS,
    PHOTO_MAX_PIXELS,
    SIGNATURE_MAX_PIXELS,
    check_image,
    strip_metadata,
)

OPEN_STATES = frozenset({"quoted", "scheduled", "en_route", "in_progress"})


def _inspect_photo(content: bytes) -> tuple[str, str]:
    """Format and SHA-256: the CPU part of taking a photo, in one trip to a worker thread."""
    fmt = check_image(content, max_pixels=PHOTO_MAX_PIXELS)
    return fmt, hashlib.sha256(content).hexdigest()


def _inspect_signature(image_base64: str) -> tuple[bytes, str]:
    """The PNG's bytes and SHA-256, checked: the CPU part of taking a signature."""
    content = decode_signature(image_base64)
    check_image(content, max_pixels=SIGNATURE_MAX_PIXELS, allowed={"PNG"})
    return content, hashlib.sha256(content).hexdigest()


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(content)
    tmp.replace(path)


async def _evidence_job(session: AsyncSession, job_id: int, actor: Actor) -> Job:
    job = await load_job_for_field_work(session, actor, job_id)
    if job.state not in OPEN_STATES:
        raise Conflict(f"evidence cannot be added to a {job.state} job", code="job_closed")
    return job


async def add_photo(
    session: AsyncSession,
    job_id: int,
    *,
    kind: str,
    content: bytes,
    upload_dir: Path,
    actor: Actor,
) -> Photo:
    """Store a before/after photo and chain its content hash into the audit trail."""
    job = await _evidence_job(session, job_id, actor)
    fmt, digest = await anyio.to_thread.run_sync(_inspect_photo, content)
    content_type, ext = FORMATS[fmt]
    name = f"{uuid.uuid4().hex}.{ext}"
    await anyio.to_thread.run_sync(_write, upload_dir / "photos" / name, content)
    photo = Photo(
        job_id=job.id,
        kind=kind,
        stored_name=name,
        content_type=content_type,
        size_bytes=len(content),
        sha256=digest,
        uploaded_by_id=actor.user_id,
        created_at=actor.at,
    )
    session.add(photo)
    await session.flush()
    await append_audit(
        session,
        job,
        actor=actor,
        action="photo.added",
        data={"photo_id": photo.id, "kind": kind, "sha256": digest, "size_bytes": len(content)},
    )
    await record_event(
        session,
        EvidenceAdded(job_id=job.id, technician_id=job.technician_id, kind=f"photo_{kind}"),
        at=actor.at,
        job=job,
    )
    return photo


def decode_signature(image_base64: str) -> bytes:
    data = image_base64.split(",", 1)[1] if image_base64.startswith("data:") else image_base64
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("image_base64 is not valid base64", code="invalid_image") from exc


async def add_signature(
    session: AsyncSession,
    job_id: int,
    *,
    signer_name: str,
    image_base64: str,
    upload_dir: Path,
    actor: Actor,
) -> Signature:
    """Record the customer's signature (a PNG drawn on the phone) and the typed name."""
    job = await _evidence_job(session, job_id, actor)
    content, digest = await anyio.to_thread.run_sync(_inspect_signature, image_base64)
    name = f"{uuid.uuid4().hex}.png"
    await anyio.to_thread.run_sync(_write, upload_dir / "signatures" / name, content)
    signature = Signature(
        job_id=job.id,
        stored_name=name,
        sha256=digest,
        signer_name=signer_name,
        captured_by_id=actor.user_id,
        signed_at=actor.at,
    )
    session.add(signature)
    await session.flush()
    await append_audit(
        session,
        job,
        actor=actor,
        action="signature.added",
        data={"signature_id": signature.id, "signer_name": signer_name, "sha256": digest},
    )
    await record_event(
        session,
        EvidenceAdded(job_id=job.id, technician_id=job.technician_id, kind="signature"),
        at=actor.at,
        job=job,
    )
    return signature


async def list_photos(session: AsyncSession, job_id: int, *, actor: Actor) -> list[Photo]:
    job = await access_job(session, actor, job_id)
    query = select(Photo).where(Photo.job_id == job.id).order_by(Photo.id)
    return list((await session.execute(query)).scalars())


async def photo_content(
    session: AsyncSession, job_id: int, photo_id: int, *, upload_dir: Path, actor: Actor
) -> tuple[bytes, str]:
    """The photo's bytes and type as ``actor`` may receive them."""
    job = await access_job(session, actor, job_id)
    photo = await session.get(Photo, photo_id)
    if photo is None or photo.job_id != job.id:
        raise Hidden(f"photo {photo_id} not found", code="photo_not_found")
    content = await anyio.to_thread.run_sync((upload_dir / "photos" / photo.stored_name).read_bytes)
    if actor.role == "customer":
        content = await anyio.to_thread.run_sync(strip_metadata, content)
    return content, photo.content_type
