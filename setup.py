"""Package discovery for the folder layout of the design card.

The top-level folders map onto one import package (see ``package-dir`` in pyproject.toml);
setuptools' declarative ``packages.find`` cannot apply that mapping to sub-packages, so they
are listed here from the folders themselves and a new sub-package never needs registering.
"""

from setuptools import find_packages, setup

FOLDERS = {
    "regiocrm": "core",
    "regiocrm.plugins": "plugins",
    "regiocrm.regions": "regions",
}
DATA_PACKAGES = ["regiocrm.migrations", "regiocrm.templates"]

packages = [*FOLDERS, *DATA_PACKAGES]
for package, folder in FOLDERS.items():
    packages += [f"{package}.{sub}" for sub in find_packages(folder)]

setup(packages=packages)
