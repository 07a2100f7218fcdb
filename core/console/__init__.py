"""The console: regiocrm's web front end for call-centre agents, dealer staff, the
competence centre and partner auditors, served by ``regiocrm serve`` at ``/`` beside the API.

Pages are rendered on the server (Jinja2) and read without JavaScript; htmx, vendored in
:mod:`regiocrm.console` ``static/``, makes them live where JavaScript runs. Like every front
end, the console calls the services (:mod:`regiocrm.services`) and makes no query of its own,
so what a user sees, and what is audited of it, is what the API gives the same user.

* :mod:`~regiocrm.console.pages`: rendering, each page in the user's language;
* :mod:`~regiocrm.console.sessions`: who is signed in, their session and CSRF cookies;
* :mod:`~regiocrm.console.signin`: ``/login``, ``/logout`` and the language a user chooses;
* :mod:`~regiocrm.console.assets`: the vendored scripts and the style sheet.
"""
