"""Attestation state: what a node should measure, how to reach its TPM, and every verdict.

* ``PlatformProfile`` / ``FirmwareRelease`` / ``NodeConfiguration``: the inputs of the offline
  prediction (``apps.attestation.predict``), stored as JSON; the codec at the bottom of this
  module turns them back into the prediction's plain dataclasses.
* ``AgentEndpoint``: where a node's agent answers (token encrypted at rest, TLS pin).
* ``Enrolment``: the TPM identity proven by MakeCredential/ActivateCredential; re-enrolment
  (TPM clear, board swap) supersedes the previous row and is audited.
* ``Attestation``: the durable, auditable history of every check, with its evidence.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.attestation import predict
from apps.core import crypto


class PlatformProfile(models.Model):
    """A hardware SKU: the PCR banks its firmware measures into and the PCRs we attest."""

    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    banks = models.JSONField(default=list, help_text='Banks measured, e.g. ["sha1", "sha256"].')
    pcrs = models.JSONField(default=list, help_text="PCR indices attested, e.g. [0, 1, ..., 7].")

    class Meta:
        verbose_name = pgettext_lazy("admin model name", "platform profile")
        verbose_name_plural = pgettext_lazy("admin model name", "platform profiles")
        ordering = ["sku"]

    def __str__(self) -> str:
        return self.sku

    def to_profile(self) -> predict.PlatformProfile:
        """The prediction model's view of this SKU."""
        return predict.PlatformProfile(
            self.sku,
            self.name,
            tuple(self.banks) or predict.BANKS,
            tuple(int(p) for p in self.pcrs) or tuple(range(8)),
        )


class FirmwareRelease(models.Model):
    """A firmware build for one SKU with its reference measurements (a template with slots)."""

    class Source(models.TextChoices):
        ARTEFACTS = "artefacts", _("Computed from build artefacts")
        GOLDEN_BOOT = "golden-boot", _("Harvested from a golden boot")

    profile = models.ForeignKey(PlatformProfile, on_delete=models.PROTECT, related_name="releases")
    version = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ARTEFACTS)
    startup_locality = models.PositiveSmallIntegerField(default=0)
    # Serialised predict.Event list (events_to_json).
    template = models.JSONField(default=list)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = pgettext_lazy("admin model name", "firmware release")
        verbose_name_plural = pgettext_lazy("admin model name", "firmware releases")
        ordering = ["profile__sku", "version"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "version"], name="attest_release_version")
        ]

    def __str__(self) -> str:
        return f"{self.profile.sku} {self.version}"

    def to_release(self) -> predict.FirmwareRelease:
        """The prediction model's view of this release."""
        return predict.FirmwareRelease(
            self.version,
            self.profile.sku,
            events_from_json(self.template),
            self.startup_locality,
            self.source,
        )


def option_rom_cards(option_roms: Any) -> tuple[str, ...]:
    """The plugged cards with option ROMs, by name (else PCI path), sorted: a node's cards as
    the campaign dry run classes nodes."""
    roms = option_roms if isinstance(option_roms, list) else []
    return tuple(
        sorted(str(r.get("name") or r.get("pci_path") or "?") for r in roms if isinstance(r, dict))
    )


def cards_text(config: Any) -> str:
    """`NodeConfiguration.cards` for a stored configuration: its `option_rom_cards` as JSON."""
    roms = config.get("option_roms") if isinstance(config, dict) else None
    return json.dumps(list(option_rom_cards(roms)))


class NodeConfigurationQuerySet(models.QuerySet):
    """Keeps `NodeConfiguration.cards` on the writes that bypass `save()`: ``update``,
    ``bulk_create`` and ``bulk_update``. A configuration written as an SQL expression leaves
    ``cards`` empty, which readers take as "not computed" (they read the JSON)."""

    def update(self, **kwargs: Any) -> int:
        # (bulk_update comes here with both, as CASE expressions)
        if "config" in kwargs and "cards" not in kwargs:
            config = kwargs["config"]
            kwargs["cards"] = "" if hasattr(config, "resolve_expression") else cards_text(config)
        return super().update(**kwargs)

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        objs = list(objs)
        for obj in objs:
            obj.cards = cards_text(obj.config)
        fields = kwargs.get("update_fields")
        if fields and "config" in fields:
            kwargs["update_fields"] = [*fields, "cards"]
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        if "config" in fields:
            objs = list(objs)
            for obj in objs:
                obj.cards = cards_text(obj.config)
            fields = [*fields, "cards"]
        return super().bulk_update(objs, fields, *args, **kwargs)


class NodeConfiguration(models.Model):
    """What a node's firmware measures beyond its own code, and its approved variants.

    ``cards`` (`cards_text` of ``config``: the card names, a few bytes) is kept by every write
    through the model: ``save()`` and the queryset's bulk writes. The campaign dry run reads
    it instead of printing every node's option ROMs ("": not computed, read the JSON)."""

    node = models.OneToOneField(
        "sites.Node", on_delete=models.CASCADE, related_name="attestation_config"
    )
    release = models.ForeignKey(
        FirmwareRelease, on_delete=models.PROTECT, related_name="configurations"
    )
    # Serialised predict.NodeConfiguration (config_to_json).
    config = models.JSONField(default=dict)
    # {"option_rom_sets": [[rom, ...], ...], "boot_orders": [[1, 2], ...],
    #  "release_versions": ["1.5.0", ...]}: every combination is one acceptable PCR vector.
    variants = models.JSONField(default=dict, blank=True)
    cards = models.TextField(blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NodeConfigurationQuerySet.as_manager()

    class Meta:
        verbose_name = pgettext_lazy("admin model name", "node configuration")
        verbose_name_plural = pgettext_lazy("admin model name", "node configurations")

    def __str__(self) -> str:
        return f"configuration of {self.node}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # only when the config is written (not deferred, not left out of update_fields)
        update_fields = kwargs.get("update_fields")
        if "config" not in self.get_deferred_fields() and (
            update_fields is None or "config" in update_fields
        ):
            self.cards = cards_text(self.config)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "cards"}
        super().save(*args, **kwargs)

    def to_config(self) -> predict.NodeConfiguration:
        """The prediction model's view of this node's configuration."""
        return config_from_json(self.config)


class AgentEndpoint(models.Model):
    """How the verifier reaches a node's agent: pinned HTTPS + per-node HMAC token."""

    node = models.OneToOneField("sites.Node", on_delete=models.CASCADE, related_name="agent")
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    cert_fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the agent's cert.")
    token_encrypted = models.TextField(editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = pgettext_lazy("admin model name", "agent endpoint")
        verbose_name_plural = pgettext_lazy("admin model name", "agent endpoints")

    def __str__(self) -> str:
        return f"agent of {self.node} at {self.host}:{self.port}"

    @property
    def token(self) -> bytes:
        return bytes.fromhex(crypto.decrypt(self.token_encrypted))

    def set_token(self, token: bytes) -> None:
        self.token_encrypted = crypto.encrypt(token.hex())


class Enrolment(models.Model):
    """A TPM identity of a node: EK, AK bound to it by credential activation.

    The current enrolment is the one with ``superseded_at`` unset; older rows stay for audit.
    """

    node = models.ForeignKey("sites.Node", on_delete=models.CASCADE, related_name="enrolments")
    ek_public = models.BinaryField()
    ek_certificate = models.BinaryField(null=True, blank=True)
    ak_public = models.BinaryField()
    ak_name = models.CharField(max_length=140)
    cert_fingerprint = models.CharField(max_length=64)
    enrolled_at = models.DateTimeField()
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("admin model name", "TPM enrolment")
        verbose_name_plural = pgettext_lazy("admin model name", "TPM enrolments")
        ordering = ["-enrolled_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["node"],
                condition=models.Q(superseded_at__isnull=True),
                name="attest_one_current_enrolment",
            )
        ]

    def __str__(self) -> str:
        return f"enrolment of {self.node} ({self.ak_name[:16]}…)"


class Attestation(models.Model):
    """One attestation of one node: the verdict, why, and the evidence it rests on."""

    class Verdict(models.TextChoices):
        TRUSTED = "trusted", _("Trusted")
        MISMATCH = "mismatch", _("Mismatch")
        INVALID = "invalid", _("Invalid evidence")
        UNREACHABLE = "unreachable", _("Unreachable")

    node = models.ForeignKey("sites.Node", on_delete=models.CASCADE, related_name="attestations")
    enrolment = models.ForeignKey(
        Enrolment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    reason_code = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    nonce = models.CharField(max_length=128, blank=True)
    quote = models.BinaryField(null=True, blank=True)
    signature = models.BinaryField(null=True, blank=True)
    eventlog = models.BinaryField(null=True, blank=True)
    pcrs = models.JSONField(default=dict, blank=True)  # {"sha256": {"0": hex, ...}} as quoted
    reset_count = models.PositiveIntegerField(null=True, blank=True)
    restart_count = models.PositiveIntegerField(null=True, blank=True)
    clock = models.BigIntegerField(null=True, blank=True)
    clock_safe = models.BooleanField(null=True, blank=True)
    rebooted = models.BooleanField(default=False)
    release_version = models.CharField(max_length=64, blank=True)
    divergences = models.JSONField(default=list, blank=True)
    duration_ms = models.FloatField(default=0)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["node", "-at"]),
            models.Index(fields=["node", "verdict", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.node} {self.verdict} @ {self.at:%Y-%m-%d %H:%M:%S}"


# --- JSON forms of the prediction inputs ------------------------------------------------------
# Binary values are base64, digests hex. Option ROMs and boot binaries are stored by their
# measured digests (and ROM image ranges), not as files: that is all the prediction needs.


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes:
    try:
        return base64.b64decode(text or "", validate=True)
    except (ValueError, TypeError):
        raise predict.PredictionError("stored value is not base64") from None


def _hexmap(digests: dict[str, bytes]) -> dict[str, str]:
    return {bank: d.hex() for bank, d in digests.items()}


def _unhexmap(digests: dict[str, str]) -> dict[str, bytes]:
    try:
        return {bank: bytes.fromhex(d) for bank, d in digests.items()}
    except (ValueError, TypeError, AttributeError):
        raise predict.PredictionError("stored digest is not hex") from None


def events_to_json(events: tuple[predict.Event, ...] | list[predict.Event]) -> list[dict]:
    """Events (a firmware template or a prediction) as JSON."""
    return [
        {
            "pcr": e.pcr,
            "type": e.type,
            "digests": _hexmap(dict(e.digests)),
            "data": _b64(e.data),
            "slot": e.slot,
            "label": e.label,
        }
        for e in events
    ]


def events_from_json(items: list[dict]) -> tuple[predict.Event, ...]:
    try:
        return tuple(
            predict.Event(
                int(i["pcr"]),
                int(i["type"]),
                _unhexmap(i.get("digests", {})),
                _unb64(i.get("data", "")),
                str(i.get("slot", "")),
                str(i.get("label", "")),
            )
            for i in items
        )
    except (KeyError, TypeError, ValueError):
        raise predict.PredictionError("stored firmware template is malformed") from None


def option_rom_to_json(rom: predict.OptionRom, banks: tuple[str, ...] = predict.BANKS) -> dict:
    """A plugged card's option ROM as the digests (and ranges) of its UEFI drivers."""
    if rom.rom is not None:
        images = predict.option_rom_images(rom.rom)
        digests = [
            _hexmap({b: predict.authenticode_digest(pe, b) for b in banks}) for _, _, pe in images
        ]
        ranges = [[start, end] for start, end, _ in images]
    else:
        digests = [_hexmap(dict(d)) for d in rom.digests]
        ranges = [list(r) for r in rom.ranges]
    return {"pci_path": rom.pci_path, "name": rom.name, "digests": digests, "ranges": ranges}


def option_rom_from_json(item: dict) -> predict.OptionRom:
    try:
        return predict.OptionRom(
            str(item["pci_path"]),
            digests=tuple(_unhexmap(d) for d in item.get("digests", [])),
            ranges=tuple((int(a), int(b)) for a, b in item.get("ranges", [])),
            name=str(item.get("name", "")),
        )
    except (KeyError, TypeError, ValueError):
        raise predict.PredictionError("stored option ROM is malformed") from None


def config_to_json(
    config: predict.NodeConfiguration, banks: tuple[str, ...] = predict.BANKS
) -> dict[str, Any]:
    """A node configuration as JSON (boot binaries by digest, option ROMs by driver digests)."""
    return {
        "secure_boot": config.secure_boot,
        "pk": _b64(config.pk),
        "kek": _b64(config.kek),
        "db": _b64(config.db),
        "dbx": _b64(config.dbx),
        "boot_order": list(config.boot_order),
        "boot_entries": [{"number": e.number, "value": _b64(e.value)} for e in config.boot_entries],
        "gpt": _b64(config.gpt) if config.gpt is not None else None,
        "boot_binaries": [
            {"path": b.path, "digests": _hexmap({bank: b.digest(bank) for bank in banks})}
            for b in config.boot_binaries
        ],
        "option_roms": [option_rom_to_json(r, banks) for r in config.option_roms],
        "authorities": [_b64(a) for a in config.authorities],
    }


def config_from_json(data: dict[str, Any]) -> predict.NodeConfiguration:
    try:
        return predict.NodeConfiguration(
            secure_boot=data.get("secure_boot"),
            pk=_unb64(data.get("pk")),
            kek=_unb64(data.get("kek")),
            db=_unb64(data.get("db")),
            dbx=_unb64(data.get("dbx")),
            boot_order=tuple(int(n) for n in data.get("boot_order", [])),
            boot_entries=tuple(
                predict.BootEntry(int(e["number"]), _unb64(e["value"]))
                for e in data.get("boot_entries", [])
            ),
            gpt=_unb64(data["gpt"]) if data.get("gpt") is not None else None,
            boot_binaries=tuple(
                predict.BootBinary(str(b["path"]), digests=_unhexmap(b["digests"]))
                for b in data.get("boot_binaries", [])
            ),
            option_roms=tuple(option_rom_from_json(r) for r in data.get("option_roms", [])),
            authorities=tuple(_unb64(a) for a in data.get("authorities", [])),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise predict.PredictionError("stored node configuration is malformed") from None
