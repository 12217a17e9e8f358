"""Shared vocabulary of the route matrix: one module per app in this package adds its routes."""

from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse

ROLES = ("anonymous", "partner", "planner", "engineer", "admin")


@dataclass
class Route:
    url: Any  # callable(objects) -> str
    expect: dict[str, int]  # role -> status
    method: str = "get"
    data: Any = field(default_factory=dict)  # or callable(role, users) -> dict
    # Same route on another partner's object: what the partner gets (404: ids do not leak).
    foreign: Any = None


def own(name, key="site"):
    return lambda o: reverse(name, args=[o[key].pk])


def foreign(name, key="other_site"):
    return lambda o: reverse(name, args=[o[key].pk])


LOGIN = 302  # anonymous page requests are redirected to the login form
ALL_200 = {"anonymous": LOGIN, "partner": 200, "planner": 200, "engineer": 200, "admin": 200}
HARDWARE = {"anonymous": LOGIN, "partner": 403, "planner": 403, "engineer": 200, "admin": 200}
API_ALL = {"anonymous": 401, "partner": 200, "planner": 200, "engineer": 200, "admin": 200}
API_HARDWARE = {"anonymous": 401, "partner": 403, "planner": 403, "engineer": 200, "admin": 200}
API_NODE = {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 200, "admin": 200}
POWER_PAGE = {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 302, "admin": 403}
API_POWER = {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 202, "admin": 403}
