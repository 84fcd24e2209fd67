"""What every finding offers: a kind, a severity, a message for people, a dict for tools."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from enum import StrEnum
from typing import Any, ClassVar


class Severity(StrEnum):
    #: the code as declared fails: it deadlocks or hangs with the smallest load
    ERROR = "error"
    #: it fails under some load or deployment the code allows
    WARNING = "warning"


class Finding(ABC):
    """Base of the typed findings; subclasses are frozen dataclasses."""

    kind: ClassVar[str]

    @property
    @abstractmethod
    def severity(self) -> Severity: ...

    @abstractmethod
    def message(self) -> str: ...

    def to_dict(self) -> dict[str, Any]:
        assert dataclasses.is_dataclass(self)
        data = dataclasses.asdict(self)
        return {"kind": self.kind, "severity": self.severity.value, **data}

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.message()}"
