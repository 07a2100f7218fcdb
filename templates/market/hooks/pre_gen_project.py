"""Stops generation, naming each value and the reason, when the values cannot make a
market: the same check `regiocrm new-market` runs before it starts."""

import json
import sys

from regiocrm.hooks import Hooks
from regiocrm.plugin_manager import get_plugin_manager
from regiocrm.scaffold import problems

VALUES = json.loads(r"""{{ cookiecutter | jsonify }}""")

found = problems(VALUES, Hooks(get_plugin_manager()))
for problem in found:
    print(f"Error: {problem}", file=sys.stderr)
sys.exit(1 if found else 0)
