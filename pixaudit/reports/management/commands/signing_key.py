from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Print the public key that signs evidence packs (PEM, on standard output; its "
        "fingerprint and published URL go to standard error), or only its fingerprint. "
        "Auditors pin either with `manage.py verify_pack --public-key/--fingerprint`."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--public", action="store_true", help="Print the PEM (default).")
        parser.add_argument(
            "--fingerprint",
            action="store_true",
            help="Print only the fingerprint (SHA256:<hex> of the PEM) instead.",
        )

    def handle(self, *args, **options):
        from pixaudit.reports import signing

        fingerprint = signing.public_key_fingerprint()
        if options["fingerprint"]:
            self.stdout.write(fingerprint)
            return
        self.stdout.write(signing.public_key_pem().decode("ascii"), ending="")
        self.stderr.write(
            f"fingerprint {fingerprint}; published at {signing.public_key_url()}\n"
            f"verify a pack: manage.py verify_pack pack.zip --fingerprint {fingerprint}",
        )
