"""What every answer must carry (decision 25): the checks the header walk
(tests/core/test_security_headers.py) and the route matrix (tests/test_route_matrix.py) apply
to each response. `https=False` leaves out what only HTTPS gives (HSTS, Secure and __Host-
cookies, upgrade-insecure-requests): the route matrix runs with development settings."""

from __future__ import annotations

import re

NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]{22,})'")
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.IGNORECASE)


def csp_directives(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def hardening_problems(response, *, https: bool = True) -> list[str]:
    """What is missing or wrong in one answer's headers and cookies (empty: all good)."""
    problems = []
    csp = csp_directives(response)
    script_src = csp.get("script-src", [])
    if not any(NONCE.fullmatch(source) for source in script_src):
        problems.append(f"script-src without a nonce: {script_src}")
    if {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(script_src):
        problems.append(f"script-src too loose: {script_src}")
    for directive, sources in {
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "default-src": ["'self'"],
        **({"upgrade-insecure-requests": []} if https else {}),
    }.items():
        if csp.get(directive) != sources:
            problems.append(f"CSP {directive} is {csp.get(directive)}, not {sources}")
    expected = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
    if https:
        expected["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains; preload"
    for name, value in expected.items():
        if response.headers.get(name) != value:
            problems.append(f"{name}: {response.headers.get(name)!r}, not {value!r}")
    permissions = response.headers.get("Permissions-Policy", "")
    for feature in (
        "publickey-credentials-get=(self)",
        "publickey-credentials-create=(self)",
        "camera=()",
    ):
        if feature not in permissions:
            problems.append(f"Permissions-Policy lacks {feature}: {permissions!r}")
    for name, morsel in response.cookies.items():
        if not morsel.value and morsel["max-age"] == 0:
            continue  # a deletion
        flags = {
            "Secure": bool(morsel["secure"]) or not https,
            "HttpOnly": bool(morsel["httponly"]),
            "SameSite": morsel["samesite"] in ("Lax", "Strict"),
            "Path=/": morsel["path"] == "/",
            "no Domain": not morsel["domain"],
        }
        if https and name.endswith(("sessionid", "csrftoken")):
            flags["__Host- prefix"] = name.startswith("__Host-")
        missing = [flag for flag, ok in flags.items() if not ok]
        if missing:
            problems.append(f"cookie {name} lacks {missing}")
    problems += inline_code(response)
    return problems


def inline_code(response) -> list[str]:
    """Inline scripts without this answer's nonce and inline event handlers (the policy would
    block them) in an HTML answer."""
    if "text/html" not in response.get("Content-Type", "") or getattr(response, "streaming", False):
        return []
    html = response.content.decode(errors="replace")
    match = NONCE.search(response.headers.get("Content-Security-Policy", ""))
    nonce = match.group(1) if match else None
    scripts = [s for s in INLINE_SCRIPT.findall(html) if f'nonce="{nonce}"' not in s]
    handlers = [h[-60:] for h in INLINE_HANDLER.findall(html)]
    return [f"inline script {s}" for s in scripts] + [f"inline handler {h}" for h in handlers]
