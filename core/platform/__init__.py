"""The platform every part runs on: settings, zone stores, migrations, the plugin manager and
its typed hook facade, translations, ids, files and rate limits."""
