"""cookiecutter templates shipped inside the regiocrm wheel as package data.

Found at run time with ``importlib.resources.files("regiocrm.templates")``, so an installed
regiocrm scaffolds without its source tree.
"""
