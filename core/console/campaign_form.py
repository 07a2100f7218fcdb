"""The campaign planning form: what a planner typed, read into the service's
:class:`~regiocrm.services.campaigns.Draft`, and each refusal put beside the field it is
about.

The form asks for one channel and one message (in one language); a segment is the markets
and, optionally, a contract ending soon, the models owned, or how recently the customer was
in touch, the fields of :class:`regiocrm.crm.segments.Segment` a planner asks for most.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from regiocrm.platform.i18n import _
from regiocrm.services.campaigns import Draft

MAX_NAME = 200
MAX_MESSAGE = 2000

# A refusal's text starts with what it is about (``messages.ja_JP: ...``,
# ``segment.markets: ...``, ``channels: ...``): the form field it belongs beside. One about
# the messages as a whole (none in a market's language, a locale unknown) is the locale's.
_ABOUT = (
    ("name", "name"),
    ("messages.", "message"),
    ("messages", "locale"),
    ("channels", "channel"),
    ("segment.markets", "markets"),
    ("segment.contract", "contract_days"),
    ("segment.vehicle_models", "models"),
    ("segment.last_interaction", "touch_days"),
)


@dataclass
class PlanForm:
    """The planning form as posted, kept as typed so that a refused form shows it again."""

    name: str = ""
    channel: str = ""
    markets: str = ""
    contract_days: str = ""
    models: str = ""
    touch_days: str = ""
    locale: str = ""
    message: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, posted: Mapping[str, Any]) -> PlanForm:
        """The form's fields from a posted form (anything else in it is not ours)."""
        form = cls()
        for name in (f.name for f in fields(cls) if f.name != "errors"):
            setattr(form, name, str(posted.get(name, "")).strip())
        return form

    def segment(self) -> dict[str, Any] | None:
        """The segment the form describes; ``None`` when a field of it is refused (the
        reason is in :attr:`errors`)."""
        markets = [code.strip().upper() for code in self.markets.replace(",", " ").split()]
        if not markets:
            self.errors["markets"] = _("Name at least one market, e.g. JP.")
        segment: dict[str, Any] = {"markets": markets}
        contract = self._days("contract_days")
        if contract is not None:
            segment["contract_ends_within_days"] = contract
        models = [model.strip() for model in self.models.split(",") if model.strip()]
        if models:
            segment["vehicle_models"] = models
        touch = self._days("touch_days")
        if touch is not None:
            segment["last_interaction"] = {"within_days": touch}
        return None if self.errors else segment

    def draft(self) -> Draft | None:
        """The campaign the form plans; ``None`` when a field is refused."""
        if not self.name:
            self.errors["name"] = _("Give the campaign a name.")
        elif len(self.name) > MAX_NAME:
            self.errors["name"] = _("At most {count} characters.").format(count=MAX_NAME)
        if not self.channel:
            self.errors["channel"] = _("Choose the channel to send through.")
        if not self.locale:
            self.errors["locale"] = _("Give the message's language, e.g. ja_JP.")
        if not self.message:
            self.errors["message"] = _("Write the message.")
        elif len(self.message) > MAX_MESSAGE:
            self.errors["message"] = _("At most {count} characters.").format(count=MAX_MESSAGE)
        segment = self.segment()
        if segment is None or self.errors:
            return None
        return Draft(
            name=self.name,
            segment=segment,
            channels=(self.channel,),
            messages={self.locale: self.message},
        )

    def refuse(self, reason: str) -> None:
        """Put a service's refusal beside the field it is about (the markets when it is
        about the segment as a whole, such as no one in it being reachable)."""
        about = next((name for prefix, name in _ABOUT if reason.startswith(prefix)), "markets")
        self.errors[about] = reason

    def _days(self, name: str) -> int | None:
        value: str = getattr(self, name)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            self.errors[name] = _("Enter a whole number of days.")
            return None
