"""Console routes (issue 7): engineers only; partners never learn a node exists."""

from django.urls import reverse

from tests.routes.common import LOGIN, Route, own

CONSOLE = {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 403}
# No log is recorded in the matrix's world: the engineer passes access and meets a 404.
CONSOLE_LOG = CONSOLE | {"engineer": 404}


def _log(name):
    return lambda o: reverse(name, args=[o["node"].pk, "2000-01-01.log"])


ROUTES: dict[str, Route] = {
    "node-console": Route(own("node-console", "node"), CONSOLE),
    "node-console-logs": Route(own("node-console-logs", "node"), CONSOLE),
    "node-console-log": Route(_log("node-console-log"), CONSOLE_LOG),
    "node-console-log-download": Route(_log("node-console-log-download"), CONSOLE_LOG),
}

WS_ROUTES = {
    "ws-node-console": (
        lambda o: f"/ws/nodes/{o['node'].pk}/console/",
        {"anonymous": 4401, "partner": 4404, "planner": 4403, "engineer": "ok", "admin": 4403},
        None,
    ),
}
