"""The OpenAPI security scheme of API tokens (loaded by TokensConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.tokens.auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token hst_…`: an API token from POST /api/v1/auth/token/ or the account page. "
                "Scopes: read (GET), write (changes), operate (power, console, BIOS, firmware)."
            ),
        }
