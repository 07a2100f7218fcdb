"""A market template's ``template.toml``: its version and, per version, what changed and
the upgrade steps a market made before it has to take.

The file comes from the template's repository, which a market follows but does not
control: it is validated here, and a file that does not hold is a clear error, not a step
half-applied.
"""

from __future__ import annotations

import tomllib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from regiocrm.platform.i18n import _

VERSION = r"^\d+(\.\d+)*$"
# A dotted TOML key path of bare keys: deployment.organization.
KEY_PATH = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"


class TemplateInfoError(ValueError):
    """A ``template.toml`` that is not TOML or does not hold a version and its changes."""


def version_key(version: str) -> tuple[int, ...]:
    """``1.10`` after ``1.9``: versions compare number by number."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        raise TemplateInfoError(
            _("template version {version!r} is not numbers and dots (e.g. 1.2)").format(
                version=version
            )
        ) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Explain(_Strict):
    """Told to the person updating: what only a person can do."""

    kind: Literal["explain"]
    text: str = Field(min_length=1)


class RenameSetting(_Strict):
    """A key moved in one of the market's TOML files, comments kept."""

    kind: Literal["rename_setting"]
    file: str = Field(min_length=1)
    old: str = Field(alias="from", pattern=KEY_PATH)
    new: str = Field(alias="to", pattern=KEY_PATH)


Step = Annotated[Explain | RenameSetting, Field(discriminator="kind")]


class TemplateChange(_Strict):
    """One version of the template: what changed, and the steps a market takes to it."""

    version: str = Field(pattern=VERSION)
    summary: str = ""
    steps: tuple[Step, ...] = ()

    def explanations(self) -> list[str]:
        return [step.text for step in self.steps if isinstance(step, Explain)]


class TemplateInfo(_Strict):
    version: str | None = Field(default=None, pattern=VERSION)
    changes: tuple[TemplateChange, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TemplateInfo:
        """:raises TemplateInfoError: naming what does not hold."""
        try:
            return cls.model_validate(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise TemplateInfoError(str(exc)) from None
        except ValidationError as exc:
            raise TemplateInfoError(
                "; ".join(
                    f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()
                )
            ) from None

    def between(self, since: str | None, until: str | None) -> list[TemplateChange]:
        """The versions after ``since`` up to ``until``, oldest first."""
        low = version_key(since) if since else ()
        high = version_key(until) if until else None
        found = [
            change
            for change in self.changes
            if version_key(change.version) > low
            and (high is None or version_key(change.version) <= high)
        ]
        return sorted(found, key=lambda change: version_key(change.version))
