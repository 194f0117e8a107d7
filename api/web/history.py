"""The lab's decision history, for the pages: the one query the services do not offer.

Decisions are kept forever (``api.models.CaseDecision``); the page shows the newest, with who
made them, so that a specialist can find a case they or a colleague answered.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.models import CaseDecision

HISTORY_LENGTH = 200


def recent_decisions(session: Session, limit: int = HISTORY_LENGTH) -> list[CaseDecision]:
    """The newest decisions first, their specialists loaded with them."""
    query = (
        select(CaseDecision)
        .options(selectinload(CaseDecision.specialist))
        .order_by(CaseDecision.created_at.desc(), CaseDecision.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
