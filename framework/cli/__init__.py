"""The ``playbook-tuner`` command line: parses options, calls the library, renders with rich.

One module per group of commands; :mod:`framework.cli.common` holds the app, the exit codes and the
shared options. Importing a command module registers its commands on the app.
"""

from framework.cli import audit, dashboard, data, freqtrade, sessions, telegram, tuning
from framework.cli.common import ExitCode, app, main

__all__ = ["ExitCode", "app", "audit", "dashboard", "data", "freqtrade", "main", "sessions", "telegram", "tuning"]
