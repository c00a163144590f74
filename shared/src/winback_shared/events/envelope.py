"""The CloudEvents 1.0 envelope (structured JSON mode) shared by every event type."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CustomerId = Annotated[str, Field(min_length=1, max_length=128)]
NonEmpty = Annotated[str, Field(min_length=1)]


class EventData(BaseModel):
    """Base of every `data` payload: unknown fields are kept for forward compatibility."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, serialize_by_alias=True, frozen=True)


class CustomerEventData(EventData):
    customer_id: CustomerId


class CloudEvent(BaseModel):
    """Envelope attributes; subclasses pin `type` and the shape of `data`."""

    # Extension attributes (e.g. `subject`, tracing) are kept, as CloudEvents allows.
    model_config = ConfigDict(extra="allow", frozen=True)

    TYPE: ClassVar[str] = ""

    specversion: Annotated[str, Field(pattern=r"^1\.0$")] = "1.0"
    id: Annotated[str, Field(min_length=1, max_length=256)]
    source: Annotated[str, Field(min_length=1, max_length=512)]
    type: str
    time: AwareDatetime
    datacontenttype: str | None = None
    data: EventData

    @property
    def customer_id(self) -> str | None:
        value = getattr(self.data, "customer_id", None)
        return value if isinstance(value, str) else None

    @property
    def identity(self) -> tuple[str, str]:
        """`(source, id)` identifies an event: the same pair twice is one event."""
        return (self.source, self.id)

    @classmethod
    def new(cls, *, source: str, time: datetime, data: Any, id: str | None = None) -> Self:
        """Build an event of this type with a fresh id (or the given deterministic one)."""
        return cls(
            id=id or str(uuid.uuid4()),
            source=source,
            type=cls.TYPE,
            time=time,
            datacontenttype="application/json",
            data=data,
        )

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()
