"""The channel conformance kit for each of {{ cookiecutter.country_name }}'s channels, its account in the
market."""
{% for entry in cookiecutter.__conformance.split(",") if entry %}
{%- set channel, target = entry.split("=") %}
{%- set module, driver = target.split(":") %}
from {{ module }} import {{ driver }}
{%- endfor %}
from regiocrm.testing.conformance import ChannelConformance
{%- for entry in cookiecutter.__conformance.split(",") if entry %}
{%- set channel, target = entry.split("=") %}
{%- set module, driver = target.split(":") %}


class {{ driver }}In{{ cookiecutter.country_code }}({{ driver }}):
    market = "{{ cookiecutter.country_code }}"


class Test{{ channel | capitalize }}(ChannelConformance):
    driver = {{ driver }}In{{ cookiecutter.country_code }}()
{%- endfor %}
