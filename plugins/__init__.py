"""Capability plugins shipped with regiocrm: local channels and map providers.

Each sub-package registers itself through the same hooks a third-party plugin uses.
"""
