"""The ``dashboard`` command: the store as a local, read-only web page, or one self-contained HTML file.

plotly and the page are imported inside the command, so the command line stays quick to start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from framework.cli.common import StoreOption, app, check_writable, say, store_path
from framework.errors import StoreError


@app.command("dashboard")
def dashboard_command(
    store: StoreOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; anything but loopback needs a token (one is made if none).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).", min=0, max=65535)] = 8050,
    token: Annotated[
        str | None,
        typer.Option(
            help="Token every request must carry (?token=, its cookie, or a Bearer header); "
            "default: $PLAYBOOK_TUNER_DASHBOARD_TOKEN."
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the page as one self-contained HTML file (plotly inlined) here and exit."),
    ] = None,
) -> None:
    """Versions, sessions, model quality, data quality, the audit and equity charts of the store, as a
    read-only web page rebuilt from the store on every request (Ctrl-C stops it), or --export to a file."""
    check_writable(export, "--export")
    try:
        path = store_path(store)
    except typer.BadParameter as exc:  # one line, as every other error of ours (the store is never created)
        raise StoreError(exc.message) from None
    if export is not None:
        from framework.dashboard.data import read_dashboard
        from framework.dashboard.page import render_page
        from framework.livefile import write_atomically

        data = read_dashboard(path)
        write_atomically(export, render_page(data, inline_plotly=True))
        say(f"dashboard of {path} written to {export}")
        return
    from framework.dashboard.server import TOKEN_ENV_VAR, DashboardConfig, is_loopback, make_server, new_token, url_of

    chosen = token or os.environ.get(TOKEN_ENV_VAR) or None
    made = chosen is None and not is_loopback(host)
    if made:
        chosen = new_token()
    server = make_server(host, port, DashboardConfig(path, chosen, log=say))
    if made:
        say(f"--host {host} is reachable from other machines: made a token for this run (or give --token)")
    say(f"dashboard of {path}: {url_of(server, host, chosen)}  (read-only; Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("stopped")
    finally:
        server.server_close()
