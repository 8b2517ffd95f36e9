"""The HTTP service: JSON API, dashboard and Prometheus metrics.

`vpm serve` runs it; `create_app` builds the app over opened projects.
"""

from vpm.api.app import create_app
from vpm.api.projects import open_projects
from vpm.api.server import serve

__all__ = ["create_app", "open_projects", "serve"]
