"""The web dashboard at ``/dashboard``: live provider board, recent requests with their routing decisions,
spend and usage charts, and key management; server-rendered, behind the admin key (see README.md here).
"""

from __future__ import annotations

from interlock.dashboard.recent import DEFAULT_CAPACITY, RecentObserver, RecentRequest, RequestLog
from interlock.dashboard.routes import dashboard_routes, install

__all__ = [
    "DEFAULT_CAPACITY",
    "RecentObserver",
    "RecentRequest",
    "RequestLog",
    "dashboard_routes",
    "install",
]
