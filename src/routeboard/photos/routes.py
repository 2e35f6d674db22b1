"""Photo and signature endpoints."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Form, Response, UploadFile, status

from routeboard.access import Authorized
from routeboard.db import Id
from routeboard.deps import SessionDep, SettingsDep
from routeboard.errors import PayloadTooLarge
from routeboard.idempotency import (
    IdempotencyKey,
    OccurredAt,
    as_of,
    fingerprint,
    once,
)
from routeboard.photos import service
from routeboard.photos.schemas import PhotoKind, PhotoRead, SignatureCreate, SignatureRead

router = APIRouter(prefix="/api/v1/jobs", tags=["evidence"])


@router.post("/{job_id}/photos", response_model=PhotoRead, status_code=status.HTTP_201_CREATED)
async def upload_photo(
    job_id: Id,
    file: UploadFile,
    kind: Annotated[PhotoKind, Form()],
    session: SessionDep,
    settings: SettingsDep,
    actor: Authorized,
    key: IdempotencyKey = None,
    occurred_at: OccurredAt = None,
) -> PhotoRead | Response:
    """A before or after photo (JPEG, PNG or WebP). ``Idempotency-Key`` and ``X-Occurred-At``
    as for transitions: a photo taken offline keeps the time it was taken."""
    content = await file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        raise PayloadTooLarge(f"photos are limited to {settings.max_upload_bytes} bytes")

    async def apply() -> PhotoRead:
        photo = await service.add_photo(
            session, job_id, kind=kind, content=content, upload_dir=settings.upload_dir,
            actor=as_of(actor, occurred_at),
        )  # fmt: skip
        return PhotoRead.model_validate(photo)

    # Hashing up to max_upload_bytes is CPU work: off the event loop, like the image check.
    print_ = await anyio.to_thread.run_sync(fingerprint, "photo", str(job_id), kind, content)
    return await once(session, actor, key, print_, apply, status_code=201)


@router.get("/{job_id}/photos", response_model=list[PhotoRead])
async def list_photos(job_id: Id, session: SessionDep, actor: Authorized) -> list[PhotoRead]:
    photos = await service.list_photos(session, job_id, actor=actor)
    return [PhotoRead.model_validate(p) for p in photos]


@router.get(
    "/{job_id}/photos/{photo_id}/content",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def photo_content(
    job_id: Id, photo_id: Id, session: SessionDep, settings: SettingsDep, actor: Authorized
) -> Response:
    content, content_type = await service.photo_content(
        session, job_id, photo_id, upload_dir=settings.upload_dir, actor=actor
    )
    return Response(content, media_type=content_type, headers={"Cache-Control": "private"})


@router.post(
    "/{job_id}/signature", response_model=SignatureRead, status_code=status.HTTP_201_CREATED
)
async def add_signature(
    job_id: Id,
    body: SignatureCreate,
    session: SessionDep,
    settings: SettingsDep,
    actor: Authorized,
    key: IdempotencyKey = None,
    occurred_at: OccurredAt = None,
) -> SignatureRead | Response:
    """The customer's signature (a PNG, base64) and typed name; ``Idempotency-Key`` and
    ``X-Occurred-At`` as for transitions."""

    async def apply() -> SignatureRead:
        signature = await service.add_signature(
            session, job_id, signer_name=body.signer_name, image_base64=body.image_base64,
            upload_dir=settings.upload_dir, actor=as_of(actor, occurred_at),
        )  # fmt: skip
        return SignatureRead.model_validate(signature)

    print_ = await anyio.to_thread.run_sync(
        fingerprint, "signature", str(job_id), body.model_dump_json()
    )
    return await once(session, actor, key, print_, apply, status_code=201)
