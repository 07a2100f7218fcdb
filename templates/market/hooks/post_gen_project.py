"""Adds the message catalogs of the market's languages and removes what was not chosen."""

import json
from pathlib import Path

from regiocrm.markets.catalogs import finish

finish(Path.cwd(), json.loads(r"""{{ cookiecutter | jsonify }}"""))
