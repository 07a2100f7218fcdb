"""{{ cookiecutter.country_name }}: the base of the pack's own migration branch

Revision ID: {{ cookiecutter.__revision }}
Revises:
Create Date: {{ cookiecutter.__created }}

Its own tables start here: each next revision revises this one (``--head={{ cookiecutter.__package_name }}@head``)
and names in ``depends_on`` the core revision it needs.
"""

from collections.abc import Sequence

revision: str = "{{ cookiecutter.__revision }}"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("{{ cookiecutter.__package_name }}",)
depends_on: str | Sequence[str] | None = "{{ cookiecutter.__core_revision }}"


def upgrade() -> None:
    """A branch's base creates nothing: it marks where the pack's history begins."""


def downgrade() -> None:
    """Nothing to undo."""
