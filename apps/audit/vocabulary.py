"""The audit trail's names for authentication events (issue 13), in one place.

Each is written with `apps.audit.services.audit_record` by the module named; `result` says
whether it succeeded ("ok") or was refused ("refused"/"failed"). Every record also carries
`auth`: how its actor authenticated (apps.audit.context).
"""

AUTH_EVENTS: dict[str, str] = {
    "auth.login": "login; ok, or refused with the username tried (apps.audit.receivers)",
    "auth.logout": "logout (apps.audit.receivers)",
    "identity.lock": "a username or address locked after too many failures (identity.lockout)",
    "identity.unlock": "an administrator lifted a lock (apps.identity.lockout)",
    "identity.reauth": "re-authentication with a factor for a dangerous act (identity.reauth)",
    "mfa.factor.add": "a second factor (TOTP, passkey) enrolled (apps.identity.receivers)",
    "mfa.factor.remove": "a second factor removed (apps.identity.receivers)",
    "mfa.recovery_code.use": "a recovery code used instead of a factor (identity.receivers)",
    "mfa.recovery_codes.regenerate": "new recovery codes (apps.identity.receivers)",
    "session.end": "one session ended by its user (apps.identity.sessions)",
    "session.end_all": "all of a user's sessions ended, e.g. by an admin (identity.sessions)",
    "session.timeout": "a session ended by the idle or absolute limit (identity.session_limits)",
    "token.create": "an API token created; name, scopes, expiry, via (apps.tokens.services)",
    "token.revoke": "one API token revoked (apps.tokens.services)",
    "token.revoke_all": "all of a user's API tokens revoked (apps.tokens.services)",
    "token.refused": "a token request or a presented token refused, with the reason (tokens)",
}
