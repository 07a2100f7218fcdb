"""The ``regiocrm`` command line. Each command group is a built-in plugin module here."""
