"""Stops generation, naming each value and the reason, when the values cannot make a
market: the same check `regiocrm new-market` runs before it starts. `regiocrm market update`
renders a market again with its answers and names it in REGIOCRM_UPDATING_MARKET: its own
pack may be installed."""

import json
import os
import sys

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.markets.scaffold import problems

VALUES = json.loads(r"""{{ cookiecutter | jsonify }}""")

found = problems(
    VALUES, Hooks(get_plugin_manager()), updating=os.environ.get("REGIOCRM_UPDATING_MARKET")
)
for problem in found:
    print(f"Error: {problem}", file=sys.stderr)
sys.exit(1 if found else 0)
