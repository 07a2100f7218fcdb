"""The contract types plugins implement: channels, map providers, packs, formats,
identities and calendars. They import nothing else of regiocrm but its translations."""
