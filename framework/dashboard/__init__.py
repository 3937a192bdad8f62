"""``playbook-tuner dashboard``: a local, read-only web page of the store, rebuilt on every request.

One module, one job: :mod:`~framework.dashboard.data` reads the store into typed dataclasses (no
plotly), :mod:`~framework.dashboard.figures` draws them as plotly figures, :mod:`~framework.dashboard.page`
writes the HTML page (served, or exported as one self-contained file) and
:mod:`~framework.dashboard.server` serves it (standard library only: GET and HEAD, a token off loopback).
plotly is imported inside this package only, so the command line stays quick to start.
"""
