"""The contract types plugins implement: channels, map providers, packs, formats,
identities, calendars, settings sections and rollout checks. They import nothing else of
regiocrm but its translations, its terms and data classes, and (for type checking only) what
a rollout check is shown. The types a hook names are exported from :mod:`regiocrm` too."""
