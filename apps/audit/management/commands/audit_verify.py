"""`manage.py audit_verify`: recompute the audit trail's hash chain; exit 1 on any break."""

from django.core.management.base import BaseCommand, CommandError

from apps.audit import chain


class Command(BaseCommand):
    help = (
        "Checks the audit trail's hash chain: reports each modified or removed record and exits "
        "with status 1 if there is any. Prints the head hash: keep it elsewhere to detect a "
        "rewritten chain later."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            default="",
            help="A head hash recorded earlier that must be in the chain.",
        )

    def handle(self, *args, expect_head: str, **options):
        found = list(chain.problems())
        for problem in found:
            self.stderr.write(f"audit trail broken: {problem}")
        if expect_head and not chain.contains_hash(expect_head):
            found.append("expected head")
            self.stderr.write(
                f"audit trail broken: the recorded hash {expect_head[:16]}… is not in the chain "
                "(rewritten history)"
            )
        if found:
            raise CommandError(f"audit trail: {len(found)} problem(s) found")
        self.stdout.write(f"audit trail intact: {chain.head_summary()}")
