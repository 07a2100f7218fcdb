"""Data classes: what residency rules speak of. Every table belongs to exactly one.

The core's classes are constants of :class:`DataClass` (``DataClass.CRM``…). The type is
open: a plugin whose entities are none of them names its own, ``DataClass("video")``, and
a pack's residency rules place it like any other; an entity whose class no pack places is
refused when the plugins load.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

DATA_CLASS_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# What the residency report calls rows that no data class places: the directory (the
# home zone's) and export copies (their destination's).
RESERVED = frozenset({"directory", "export"})


class _DataClassType(type):
    """Iterating :class:`DataClass` gives the core's own classes, as the enum it replaces
    did: a pack's ``dict.fromkeys(DataClass, rule)`` still places every one of them."""

    def __iter__(cls) -> Iterator[DataClass]:
        return iter(DataClass.BUILTIN)

    def __len__(cls) -> int:
        return len(DataClass.BUILTIN)


class DataClass(str, metaclass=_DataClassType):
    """One class of data, by its name: a lower-case identifier.

    :raises ValueError: for a name that is not one, or that the residency report keeps for
        itself (``directory``, ``export``).
    """

    __slots__ = ()

    IDENTITY: ClassVar[DataClass]
    CRM: ClassVar[DataClass]
    FINANCIAL: ClassVar[DataClass]
    TELEMATICS: ClassVar[DataClass]
    AUDIT: ClassVar[DataClass]
    BUILTIN: ClassVar[tuple[DataClass, ...]]

    def __new__(cls, name: str) -> DataClass:
        if isinstance(name, DataClass):
            return name
        if not isinstance(name, str) or not DATA_CLASS_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a data class name (a lower-case identifier, e.g. 'crm')"
            )
        if name in RESERVED:
            raise ValueError(f"{name!r} names no data class: the residency report keeps it")
        return super().__new__(cls, name)

    @property
    def value(self) -> str:
        """The name, as the enum this type replaces gave it."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"DataClass({self.value!r})"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


DataClass.IDENTITY = DataClass("identity")
DataClass.CRM = DataClass("crm")
DataClass.FINANCIAL = DataClass("financial")
DataClass.TELEMATICS = DataClass("telematics")
DataClass.AUDIT = DataClass("audit")
DataClass.BUILTIN = (
    DataClass.IDENTITY,
    DataClass.CRM,
    DataClass.FINANCIAL,
    DataClass.TELEMATICS,
    DataClass.AUDIT,
)
