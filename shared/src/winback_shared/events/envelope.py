"""The CloudEvents 1.0 envelope (structured JSON mode) shared by every event type."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo
from pydantic_core import PydanticCustomError, TzInfo

from winback_shared.validation import rfc3339_problem, time_problem

CustomerId = Annotated[str, Field(min_length=1, max_length=128)]
# Business keys (order, contract, ticket, action ids): identifiers, not prose.
NonEmpty = Annotated[str, Field(min_length=1, max_length=256)]

# Validation context key: the latest event `time` the receiver accepts (its clock plus the skew).
NOT_AFTER = "not_after"
_NO_OFFSET = timedelta(0)


def _rfc3339(value: object) -> object:
    problem = rfc3339_problem(value)
    if problem is not None:
        raise PydanticCustomError("time_not_rfc3339", "{problem}", {"problem": problem})
    return value


@lru_cache(maxsize=256)
def _zone(offset: timedelta) -> tzinfo:
    return UTC if not offset else timezone(offset)


def _in_range(value: datetime) -> datetime:
    problem = time_problem(value)
    if problem is not None:
        raise PydanticCustomError("time_out_of_range", "{problem}", {"problem": problem})
    if type(value.tzinfo) is not TzInfo:
        return value  # given as a datetime (an event built in process): its zone stays as it is
    # Parsed from text: the same instant and offset with the standard library's timezone. pydantic-
    # core gives each parsed time a tzinfo of its own type, and every comparison, subtraction or
    # conversion of two such times calls back into both (10x slower than two stdlib times; a
    # consumer compares, sorts and converts each event's time several times). Equal, and
    # serialised and formatted alike (only tzname() differs for a non-zero offset: "UTC+01:00").
    return value.replace(tzinfo=_zone(value.utcoffset() or _NO_OFFSET))


def _not_in_future(value: datetime, info: ValidationInfo) -> datetime:
    # Only the receiving edge (ingest) passes its clock: a consumer applies what ingest let in,
    # even when its own clock is behind (clocks of a demo are moved one service at a time).
    limit = (info.context or {}).get(NOT_AFTER)
    if isinstance(limit, datetime) and value > limit:
        raise PydanticCustomError(
            "time_in_future",
            "lies more than the allowed clock skew in the future (latest accepted: {limit}); "
            "an event's time is when the fact happened",
            {"limit": limit.isoformat()},
        )
    return value


# Any time in an event: RFC 3339 with offset, within years 1-9999 in UTC.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_range)]
# The envelope's `time`: also not beyond the receiver's clock plus the allowed skew.
EventTime = Annotated[Timestamp, AfterValidator(_not_in_future)]


def not_after(now: datetime, skew: timedelta) -> dict[str, datetime]:
    """The validation context with which an edge service refuses events from the future."""
    return {NOT_AFTER: now + skew}


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
    time: EventTime
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
