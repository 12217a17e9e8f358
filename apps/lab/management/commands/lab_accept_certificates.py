"""Demo only: accept the lab BMCs' Redfish certificates for the loopback nodes that speak Redfish.

On a real fleet an engineer compares and accepts each BMC's certificate on the node page. The
demo's BMCs are the lab's, whose certificates the lab makes itself (``var/lab/redfish/``), so
the demo starts with them accepted instead of every Redfish node waiting on "certificate not
accepted". Missing certificates are made now, in the files ``run_lab`` then serves, so this
runs before the lab starts (``make demo``). Each acceptance is audited (system, source "lab").
"""

from __future__ import annotations

from cryptography import x509
from django.core.management.base import BaseCommand

from apps.hardware.certificates import certificate_trust_known
from apps.hardware.drivers.base import CertificateInfo
from apps.lab.redfish.certs import BmcCertificate
from apps.lab.redfish.server import DEFAULT_STATE_DIR
from apps.sites.models import Node

LOOPBACK = ("127.0.0.1", "localhost")  # as run_lab


def certificate_info(cert: BmcCertificate) -> CertificateInfo:
    parsed = x509.load_pem_x509_certificate(cert.cert_pem.encode("ascii"))
    return CertificateInfo(
        fingerprint=cert.fingerprint,
        subject=parsed.subject.rfc4514_string(),
        issuer=parsed.issuer.rfc4514_string(),
        not_before=parsed.not_valid_before_utc,
        not_after=parsed.not_valid_after_utc,
    )


class Command(BaseCommand):
    help = "Demo: accept the lab's Redfish certificates of the loopback Redfish/auto nodes."

    def add_arguments(self, parser):
        parser.add_argument(
            "--redfish-state-dir",
            default=str(DEFAULT_STATE_DIR),
            help="where the lab keeps each BMC's certificate (run_lab's option of that name)",
        )

    def handle(self, *args, redfish_state_dir, **options):
        nodes = Node.objects.filter(bmc_host__in=LOOPBACK).exclude(
            bmc_protocol=Node.BmcProtocol.IPMI
        )
        accepted = 0
        for node in nodes.order_by("pk").iterator():
            cert = BmcCertificate.ensure(redfish_state_dir, node.name)
            if node.bmc_tls_fingerprint != cert.fingerprint:
                certificate_trust_known(node=node, certificate=certificate_info(cert), source="lab")
                accepted += 1
        self.stdout.write(f"{accepted} lab BMC certificate(s) accepted")
