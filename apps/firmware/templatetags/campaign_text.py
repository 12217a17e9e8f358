"""`{{ reason|said }}`: a campaign's stored English sentence in the reader's language."""

from django import template

from apps.firmware.campaign_text import said as said_text

register = template.Library()


@register.filter
def said(text):
    return said_text(text)
