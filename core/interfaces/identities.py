"""Normalised identities: one written form per phone number or e-mail address, so that
the same person is recognised whichever way they typed it."""

from __future__ import annotations

from dataclasses import dataclass


class InvalidIdentity(ValueError):
    """A value that cannot be an identity of its kind; the message says why."""


@dataclass(frozen=True)
class NormalizedIdentity:
    """An identity in its one canonical form (E.164 phone, normalised e-mail)."""

    kind: str
    value: str
