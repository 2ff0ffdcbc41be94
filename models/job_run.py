"""Scheduler bookkeeping: one row per job run and one state row per job."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import ts_column, utcnow


class JobRun(SQLModel, table=True):
    """A record of one run of a scheduled job."""

    __tablename__ = "job_run"

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=60, index=True)
    started_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=ts_column())
    items: int = Field(default=0)
    error: str | None = Field(default=None, max_length=4000)
    host: str = Field(default="", max_length=200)


class JobState(SQLModel, table=True):
    """The last completion of a job (and the scheduler heartbeat under the name 'heartbeat')."""

    __tablename__ = "job_state"

    name: str = Field(primary_key=True, max_length=60)
    last_run_at: datetime | None = Field(default=None, sa_column=ts_column())
    last_success_at: datetime | None = Field(default=None, sa_column=ts_column())
    host: str = Field(default="", max_length=200)
