"""The services every front end calls: the HTTP API, the console, the CLI and the workers.

A service method is one unit of work for one caller. It opens the transaction, applies the
caller's scope in the queries it runs, writes the audit trail, and commits before it
returns, so whatever a front end then answers is already kept; a commit that fails is the
caller's error. It returns plain values (views), never ORM objects, and raises the domain's
errors, which each front end turns into its own answer (a problem document, an ``Error:``
line).

The application is wired once, in :class:`~regiocrm.services.application.Application`: the
zone stores, the channels and their accounts, the map chain, the inbox pipeline and its
worker. Every front end opens one and builds the services it needs from it::

    app = Application.open(settings, hooks)
    case = CaseService(app).open(caller, new)

Event hooks receive the services over the application that fired them, as the handle
:class:`Services` (``from regiocrm.services import Services``).
"""

from regiocrm.services.handle import Services

__all__ = ["Services"]
