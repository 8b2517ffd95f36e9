"""The HTTP service: JSON API, dashboard and Prometheus metrics.

`vpm serve` runs it (`vpm.api.server.serve`); `vpm.api.app.create_app`
builds the app over projects opened by `vpm.api.projects.open_projects`.
Nothing is imported here, so `vpm` commands that do not serve stay fast.
"""
