"""The audit trail of a job, with its verification."""

from __future__ import annotations

from fastapi import APIRouter

from routeboard.access import Authorized, access_job
from routeboard.audit.schemas import AuditEntryRead, AuditTrail, BrokenEntry
from routeboard.audit.service import verify_job_chain
from routeboard.db import Id
from routeboard.deps import SessionDep

router = APIRouter(prefix="/api/v1/jobs", tags=["audit"])


@router.get("/{job_id}/audit", response_model=AuditTrail)
async def read_audit(job_id: Id, session: SessionDep, actor: Authorized) -> AuditTrail:
    job = await access_job(session, actor, job_id)
    report = await verify_job_chain(session, job)
    broken = report.broken
    return AuditTrail(
        job_id=job.id,
        verified=report.verified,
        broken=BrokenEntry(entry_id=broken.entry_id, seq=broken.seq, problem=broken.problem)
        if broken
        else None,
        entries=[AuditEntryRead.model_validate(e) for e in report.entries],
    )
