"""The console served in-process: a deployment to add users to, and browsers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from console_client import ConsoleDeployment, serve_console

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings


@pytest.fixture
def console(settings: RegiocrmSettings, regiocrm_hooks: Hooks) -> Iterator[ConsoleDeployment]:
    with serve_console(settings, regiocrm_hooks) as deployment:
        yield deployment
