"""`{% account_tokens %}`: the account page's list of the user's API tokens."""

from django import template

from apps.accounts.policy import grantable_scopes
from apps.tokens import services

register = template.Library()


@register.inclusion_tag("tokens/_account_tokens.html", takes_context=True)
def account_tokens(context):
    user = context["request"].user
    return {
        "tokens": list(services.tokens_of(user)),
        "grantable": grantable_scopes(user.role),
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
    }
