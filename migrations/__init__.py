"""The core's alembic environment and revisions, shipped inside the wheel.

Run them through ``regiocrm db upgrade``, which upgrades every configured zone; see
:mod:`regiocrm.platform.migrations`.
"""
