"""`{{ reason|attestation_said }}`: an attestation's English reason in the reader's language."""

from django import template

from apps.attestation.reason_text import said

register = template.Library()


@register.filter
def attestation_said(text):
    return said(text)
