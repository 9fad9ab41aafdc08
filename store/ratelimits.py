"""Requests to the public endpoints per client address, in fixed windows (migration 0006_intake_codes.py)."""

from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, String
from sqlmodel import Field, SQLModel


class PublicRequestCount(SQLModel, table=True):
    """How many requests one client address made in its current window; shared by every API process."""

    __tablename__ = "public_request_counts"

    client: str = Field(sa_column=Column(String(64), primary_key=True))
    window_start: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    requests: int = Field(sa_column=Column(Integer, nullable=False))
