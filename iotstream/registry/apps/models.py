"""The catalog's tables of stream apps: what each tenant's apps compute, with whom they share their
output, and how they are doing (as the `jobs` role that runs them last wrote it)."""

from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from iotstream.registry.models import Base

__all__ = ["AppShare", "StreamApp"]


class StreamApp(Base):
    __tablename__ = "stream_apps"
    __table_args__ = (UniqueConstraint("tenant", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), index=True)
    name: Mapped[str] = mapped_column(String(63))
    sql: Mapped[str] = mapped_column(Text)
    out_of_orderness_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    allowed_lateness_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    declared: Mapped[bool] = mapped_column(Boolean, default=False)  # by `[[jobs]]` in iotstream.toml
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[dict[str, Any] | None]  # the runner's counters, watermark and lag
    status_ms: Mapped[int | None] = mapped_column(BigInteger)


class AppShare(Base):
    __tablename__ = "app_shares"
    __table_args__ = (UniqueConstraint("app_id", "tenant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("stream_apps.id", ondelete="CASCADE"), index=True)
    tenant: Mapped[str] = mapped_column(String(63), index=True)  # who may read the app's output
