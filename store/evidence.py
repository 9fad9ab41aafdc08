"""Evidence files in PostgreSQL: stored sealed, listed once a step of the case's timeline names them."""

from sqlalchemy import String, cast, exists, func, literal
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import col, delete, select

from store.db import Database
from store.models import EvidenceFile, TimelineEntry


async def store_files(database: Database, files: list[EvidenceFile]) -> None:
    """Keep the files; a retry that stores the same ids again changes nothing."""
    if not files:
        return
    async with database.transaction() as session:
        rows = [file.model_dump() for file in files]
        await session.exec(insert(EvidenceFile).values(rows).on_conflict_do_nothing(index_elements=["id"]))


async def forget_files(database: Database, ids: list[str]) -> None:
    """Drop stored files that no step will name (their addition was refused)."""
    async with database.transaction() as session:
        await session.exec(delete(EvidenceFile).where(col(EvidenceFile.id).in_(ids)))


def _named_by_a_step():
    named = func.jsonb_build_array(func.jsonb_build_object("id", EvidenceFile.id))
    return exists().where(
        TimelineEntry.reference == EvidenceFile.reference,
        cast(TimelineEntry.detail, JSONB)[literal("evidence")].op("@>")(named),
    )


async def files_of_case(database: Database, reference: str) -> list[EvidenceFile]:
    """The case's files, oldest first, without their content."""
    columns = [column for column in EvidenceFile.__table__.columns if column.name != "sealed"]
    query = (select(*columns).where(EvidenceFile.reference == reference, _named_by_a_step())
             .order_by(EvidenceFile.uploaded_at, EvidenceFile.position))
    async with database.session() as session:
        return [EvidenceFile(**row._mapping, sealed=b"") for row in (await session.exec(query)).all()]


async def file_of_case(database: Database, reference: str, file_id: str) -> EvidenceFile | None:
    """One of the case's files, with its sealed content."""
    query = select(EvidenceFile).where(EvidenceFile.reference == reference, EvidenceFile.id == cast(file_id, String),
                                       _named_by_a_step())
    async with database.session() as session:
        return (await session.exec(query)).first()
