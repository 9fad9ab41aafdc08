"""The submitter's rating of a closed case: one per case (store/migrations/versions/0002_ratings.py)."""

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel

# The foreign key below names `cases`; its table must be in the same metadata.
from store import models  # noqa: F401


class Rating(SQLModel, table=True):
    """A score from 1 to 5 and an optional comment; the case's reference is the key, so a second rating conflicts."""

    __tablename__ = "ratings"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="ck_ratings_score"),)

    reference: str = Field(sa_column=Column(String(20), ForeignKey("cases.reference"), primary_key=True))
    score: int = Field(sa_column=Column(SmallInteger, nullable=False))
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


async def add_rating(database, reference: str, score: int, comment: str | None, created_at: datetime) -> bool:
    """Keep the case's rating; False if it was rated already (the reference is the key)."""
    async with database.transaction() as session:
        inserted = await session.exec(
            insert(Rating)
            .values(reference=reference, score=score, comment=comment, created_at=created_at)
            .on_conflict_do_nothing(index_elements=["reference"])
            .returning(Rating.reference)
        )
        return inserted.first() is not None
