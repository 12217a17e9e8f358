"""The one-time, expiring, signed URL a BMC fetches an image from (``SimpleUpdate``): ours, or
for a site whose gateway relays images, the gateway's, which hands the token on to ours.

The token signs (image, update, nonce) with a timestamp (`TimestampSigner`, its own salt). It is
good for ``FIRMWARE_IMAGE_URL_TTL`` seconds and for one fetch: the first fetch marks the update
(an atomic conditional update, so two racing fetches cannot both win); any other is refused with
its reason. The URL is never stored or logged: only its nonce is kept on the update.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.firmware.models import FirmwareUpdate

SALT = "heatsite.firmware.image-url"
DEFAULT_BASE = "http://127.0.0.1:8000"


class ImageUrlRefused(Exception):
    """A fetch that gets no image: ``status`` 403 (not a valid token) or 410 (expired or used).
    ``reason`` is an English msgid (the audit log keeps it); the view answers it translated."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def image_url_build(update: FirmwareUpdate) -> str:
    """A fresh signed URL for ``update``'s image (a new nonce: any earlier URL stops working)."""
    nonce = secrets.token_hex(16)
    FirmwareUpdate.objects.filter(pk=update.pk).update(url_nonce=nonce, url_fetched_at=None)
    update.url_nonce, update.url_fetched_at = nonce, None
    token = signing.TimestampSigner(salt=SALT).sign_object(
        {"i": update.image_id, "u": update.pk, "n": nonce}
    )
    from apps.gateways.services import gateway_for_site

    gateway = gateway_for_site(update.node.site_id)
    if gateway is not None and gateway.image_base_url:
        # a gateway site's BMCs fetch from its relay, which fetches from us (apps.gateways.images)
        relay = gateway.image_base_url.rstrip("/")
        return f"{relay}/images/{update.image.sha256}/{token}/"
    base = settings.FIRMWARE_IMAGE_BASE_URL or update.image_base_url or DEFAULT_BASE
    return base.rstrip("/") + reverse("firmware-image", args=[token])


def image_url_open(token: str, *, remote: str = "") -> FirmwareUpdate:
    """The update whose image ``token`` hands out, consumed; `ImageUrlRefused` otherwise."""
    try:
        payload = signing.TimestampSigner(salt=SALT).unsign_object(
            token, max_age=settings.FIRMWARE_IMAGE_URL_TTL
        )
    except signing.SignatureExpired:
        raise ImageUrlRefused(
            410, gettext_noop("This image link has expired; request the update again.")
        ) from None
    except signing.BadSignature:
        raise ImageUrlRefused(403, gettext_noop("This is not a valid image link.")) from None
    if not isinstance(payload, dict) or not all(k in payload for k in ("i", "u", "n")):
        raise ImageUrlRefused(403, gettext_noop("This is not a valid image link."))
    update = (
        FirmwareUpdate.objects.select_related("image", "node", "node__site")
        .filter(pk=payload["u"], image_id=payload["i"])
        .first()
    )
    if update is None or update.url_nonce != payload["n"]:
        raise ImageUrlRefused(410, gettext_noop("This image link was replaced by a newer one."))
    if not update.is_active:
        raise ImageUrlRefused(410, gettext_noop("The update this image link was made for is over."))
    claimed = FirmwareUpdate.objects.filter(
        pk=update.pk, url_nonce=payload["n"], url_fetched_at__isnull=True
    ).update(url_fetched_at=timezone.now())
    if not claimed:
        reason = gettext_noop("This image link was already used: it is good for one fetch.")
        audit_record(
            actor=None,
            action="firmware.image_fetched",
            target=update.node,
            result=AuditEvent.Result.REFUSED,
            detail={"update_id": update.pk, "reason": reason, "from": remote},
        )
        raise ImageUrlRefused(410, reason)
    audit_record(
        actor=None,
        action="firmware.image_fetched",
        target=update.node,
        result=AuditEvent.Result.OK,
        detail={"update_id": update.pk, "image_id": update.image_id, "from": remote},
    )
    return update
