"""``manage.py verify_quote``: verify a quote made with tpm2-tools (field engineers' check).

Accepts what ``tpm2_createak -u`` / ``tpm2_readpublic -f pem`` and ``tpm2_quote -m -s -o`` write.
Exits 0 only when the quote is valid; otherwise a one-line reason and a non-zero status.
"""

from django.core.management.base import BaseCommand, CommandError

from apps.attestation.tcg.quote import (
    QuoteError,
    parse_pcr_values_file,
    parse_public,
    verify_quote,
)


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise CommandError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


class Command(BaseCommand):
    help = "Verify a TPM2 quote (tpm2_quote -m/-s/-o output) against an AK public key."

    def add_arguments(self, parser):
        parser.add_argument("--ak-public", required=True, help="AK public: PEM or TPM2B_PUBLIC")
        parser.add_argument("--message", required=True, help="TPMS_ATTEST (tpm2_quote -m)")
        parser.add_argument("--signature", required=True, help="TPMT_SIGNATURE (tpm2_quote -s)")
        parser.add_argument("--nonce", required=True, help="qualifying data given to -q, in hex")
        parser.add_argument("--pcrs", help="PCR values file (tpm2_quote -o)")
        parser.add_argument("--selection", help="required PCR selection, e.g. sha256:0,1,2,3")

    def handle(self, *args, **options):
        try:
            nonce = bytes.fromhex(options["nonce"].removeprefix("0x"))
        except ValueError:
            raise CommandError(f"--nonce is not hex: {options['nonce']!r}") from None
        ak = _read(options["ak_public"], "AK public key")
        message = _read(options["message"], "quote message")
        signature = _read(options["signature"], "quote signature")
        pcr_file = _read(options["pcrs"], "PCR values file") if options["pcrs"] else None
        try:
            pcrs = parse_pcr_values_file(pcr_file) if pcr_file is not None else None
            result = verify_quote(
                parse_public(ak), message, signature, nonce, pcrs, options["selection"]
            )
        except QuoteError as exc:
            raise CommandError(f"INVALID quote ({exc.code}): {exc.reason}") from None
        att = result.attest
        clock = att.clock_info
        self.stdout.write(f"VALID quote: checked {', '.join(result.checks)}")
        self.stdout.write(
            f"signature: {result.signature.scheme_name}/{result.signature.hash_alg}; "
            f"firmware 0x{att.firmware_version:016x}"
        )
        self.stdout.write(
            f"clock: {clock.clock} ms, resetCount {clock.reset_count}, "
            f"restartCount {clock.restart_count}, safe {'yes' if clock.safe else 'no'}"
        )
        self.stdout.write(f"pcrDigest: {att.pcr_digest.hex()}")
        if result.pcr_values is None:
            self.stdout.write("PCR values not checked (no --pcrs file)")
            return
        for bank, values in result.pcr_values.items():
            self.stdout.write(f"{bank}:")
            for index, value in sorted(values.items()):
                self.stdout.write(f"  {index:2d}: {value.hex()}")
