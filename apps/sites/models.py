"""The fleet: organisations, sites, nodes (servers) and heat meters."""

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.core import crypto


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone.")


class Organisation(models.Model):
    """The operator itself, or a heat-network partner that buys a site's heat."""

    class Kind(models.TextChoices):
        OPERATOR = "operator", _("Operator")
        PARTNER = "partner", _("Heat-network partner")

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PARTNER)
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Site(models.Model):
    """A boiler room or substation whose servers heat a heat network's water."""

    class Status(models.TextChoices):
        COMMISSIONING = "commissioning", _("Commissioning")
        ACTIVE = "active", _("Active")
        MAINTENANCE = "maintenance", _("Maintenance")
        DECOMMISSIONED = "decommissioned", _("Decommissioned")

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    latitude = models.DecimalField(
        max_digits=8,
        decimal_places=5,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        max_digits=8,
        decimal_places=5,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    partner = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="sites",
        limit_choices_to={"kind": Organisation.Kind.PARTNER},
    )
    heat_network = models.CharField(max_length=200, blank=True)
    contract_min_supply_c = models.DecimalField(
        "contracted minimum supply temperature (°C)",
        max_digits=5,
        decimal_places=1,
        default=60,
        validators=[MinValueValidator(20), MaxValueValidator(120)],
    )
    nominal_capacity_kw = models.DecimalField(
        "nominal thermal capacity (kW)",
        max_digits=9,
        decimal_places=1,
        default=0,
        validators=[MinValueValidator(0)],
    )
    co2_factor_kg_per_mwh = models.DecimalField(
        "CO₂ of the displaced heat source (kg/MWh_th)",
        max_digits=7,
        decimal_places=1,
        default=227,
        validators=[MinValueValidator(0)],
        help_text="Emissions of the heat the partner would otherwise produce (gas boiler ≈ 227).",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    timezone = models.CharField(
        max_length=64, default="Europe/Paris", validators=[validate_timezone]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        indexes = [
            models.Index(fields=["partner", "code"]),
            models.Index(fields=["status"]),
            # Deep pages of the fleet sorted by name (ORDER BY name, id OFFSET n).
            models.Index(fields=["name", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Node(models.Model):
    """One water-cooled server at a site, reached through its BMC."""

    class Status(models.TextChoices):
        PRODUCTION = "production", _("In production")
        MAINTENANCE = "maintenance", _("Maintenance")
        FAILED = "failed", _("Failed")
        RETIRED = "retired", _("Retired")

    class BmcProtocol(models.TextChoices):
        IPMI = "ipmi", _("IPMI 2.0 (RMCP+)")
        REDFISH = "redfish", _("Redfish")
        AUTO = "auto", _("Auto (Redfish when it answers, else IPMI)")

    class BmcRotationState(models.TextChoices):
        NONE = "", _("None")
        PENDING = "pending", _("In progress")
        FAILED = "failed", _("Failed")

    class PowerState(models.TextChoices):
        UNKNOWN = "unknown", _("Unknown")
        ON = "on", _("On")
        OFF = "off", _("Off")

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="nodes")
    name = models.CharField(max_length=100, unique=True)
    rack_position = models.CharField(max_length=32, blank=True)
    model = models.CharField(max_length=100, blank=True)
    serial = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PRODUCTION)
    nominal_power_w = models.PositiveIntegerField(
        default=500, help_text="Electrical draw at full load, used when the BMC reports none."
    )

    bmc_protocol = models.CharField(
        max_length=16, choices=BmcProtocol.choices, default=BmcProtocol.IPMI
    )
    bmc_host = models.CharField(max_length=255, blank=True)
    bmc_port = models.PositiveIntegerField(
        default=623, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    bmc_username = models.CharField(max_length=64, blank=True)
    bmc_password_encrypted = models.TextField(blank=True, editable=False)
    # Password rotation (apps.hardware.rotation): the new password is stored here, encrypted,
    # before the BMC is touched, and becomes `bmc_password_encrypted` only once it logged in.
    bmc_password_pending_encrypted = models.TextField(blank=True, editable=False)
    bmc_rotation_state = models.CharField(
        max_length=16, choices=BmcRotationState.choices, blank=True, editable=False
    )
    bmc_rotation_error = models.CharField(max_length=500, blank=True, editable=False)
    bmc_rotation_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    bmc_password_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # One BMC may speak both: IPMI on UDP `bmc_port`, Redfish over HTTPS on TCP `redfish_port`.
    redfish_port = models.PositiveIntegerField(
        default=443, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    # `auto`: what the last probe of the Redfish service root found ("redfish"/"ipmi"; "" never).
    bmc_protocol_detected = models.CharField(max_length=16, blank=True, editable=False)
    bmc_protocol_probed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Redfish TLS: the SHA-256 fingerprint an engineer accepted (pinned) ...
    bmc_tls_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    # ... and the certificate the BMC presented last, shown for accepting (or as "changed!").
    bmc_cert_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    bmc_cert_subject = models.CharField(max_length=300, blank=True, editable=False)
    bmc_cert_not_after = models.DateTimeField(null=True, blank=True, editable=False)
    bmc_cert_seen_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Latest known state, written by the BMC poller.
    power_state = models.CharField(
        max_length=16, choices=PowerState.choices, default=PowerState.UNKNOWN
    )
    reachable = models.BooleanField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    power_w = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("admin model name", "node")
        verbose_name_plural = pgettext_lazy("admin model name", "nodes")
        ordering = ["site__code", "name"]
        indexes = [models.Index(fields=["site", "name"])]

    def __str__(self) -> str:
        return self.name

    @property
    def bmc_password(self) -> str:
        if not self.bmc_password_encrypted:
            return ""
        return crypto.decrypt(self.bmc_password_encrypted)

    def set_bmc_password(self, password: str) -> None:
        self.bmc_password_encrypted = crypto.encrypt(password) if password else ""

    @property
    def bmc_password_pending(self) -> str:
        """The rotation's new password while it is not verified yet ("" when none)."""
        if not self.bmc_password_pending_encrypted:
            return ""
        return crypto.decrypt(self.bmc_password_pending_encrypted)

    @property
    def speaks_redfish(self) -> bool:
        """Redfish is (or may be) how Heatsite reaches this BMC: its certificate matters."""
        return self.bmc_protocol == self.BmcProtocol.REDFISH or (
            self.bmc_protocol == self.BmcProtocol.AUTO and self.bmc_protocol_detected == "redfish"
        )

    @property
    def bmc_cert_state(self) -> str:
        """``accepted``, ``unaccepted`` (first contact), ``changed`` (refused), or ``""``."""
        presented, pinned = self.bmc_cert_fingerprint, self.bmc_tls_fingerprint
        if pinned and presented and presented != pinned:
            return "changed"
        if pinned:
            return "accepted"
        return "unaccepted" if presented else ""


class HeatMeter(models.Model):
    """A heat meter on a site's water loop, read over Modbus TCP."""

    class Protocol(models.TextChoices):
        MODBUS_TCP = "modbus_tcp", _("Modbus TCP")

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="meters")
    serial = models.CharField(max_length=64, unique=True)
    model = models.CharField(
        max_length=64, default="generic", help_text="Register map used to read the meter."
    )
    protocol = models.CharField(
        max_length=16, choices=Protocol.choices, default=Protocol.MODBUS_TCP
    )
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(
        default=502, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    unit_id = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(0), MaxValueValidator(247)]
    )
    installed_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the meter is replaced; kept for billing."
    )

    class Meta:
        verbose_name = pgettext_lazy("admin model name", "heat meter")
        verbose_name_plural = pgettext_lazy("admin model name", "heat meters")
        ordering = ["site__code", "serial"]

    def __str__(self) -> str:
        return f"{self.serial} ({self.site.code})"
