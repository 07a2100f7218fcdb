"""Country packs shipped with regiocrm: the regional template and the markets that extend it."""
