"""The pack under test, registered in each test's plugin manager (regiocrm's pytest plugin
gives a fresh one with the built-ins only)."""

import pytest

import {{ cookiecutter.__package_name }}


@pytest.fixture(autouse=True)
def pack(register_plugin):
    register_plugin({{ cookiecutter.__package_name }}, name="{{ cookiecutter.__package_name }}")
    return {{ cookiecutter.__package_name }}
