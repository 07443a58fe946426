"""Objects the permission matrix's URLs need (made once per test world, through services).

Each ``Kwargs`` builds the URL kwargs of one route from the test world ``w``.
"""

from __future__ import annotations

from collections.abc import Callable

Kwargs = Callable[[object], dict]


def _pack_build(w, audience: str):
    from tests.reports.pack_helpers import pack_build_ready

    user = w.auditor if audience == "engagement" else w.manager
    return pack_build_ready(report=w.report, requested_by=user, audience=audience,
                            viewer_label=str(user))  # fmt: skip


PACK: Kwargs = lambda w: {"pk": _pack_build(w, "internal").pk}  # noqa: E731
ENG_PACK: Kwargs = lambda w: {"pk": w.engagement.pk, "build_pk": _pack_build(w, "engagement").pk}  # noqa: E731


def invited_user(w) -> tuple[object, str]:
    """A user invited from the users pages who has not chosen a password yet, and the link's
    token (made here: the mail job would make its own)."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone

    from pixaudit.accounts.models import User, UserInvitation
    from pixaudit.accounts.services import invitation_token_hash

    token = secrets.token_urlsafe(16)
    tag = secrets.token_hex(4)
    user = User(username=f"invitee-{tag}", email=f"invitee-{tag}@example.com", role="engineer")
    user.set_unusable_password()
    user.save()
    UserInvitation.objects.create(
        user=user, email=user.email, token_hash=invitation_token_hash(token),
        expires_at=timezone.now() + timedelta(days=3),
    )  # fmt: skip
    return user, token


PERSON: Kwargs = lambda w: {"pk": w.engineer.pk}  # noqa: E731
INVITED: Kwargs = lambda w: {"pk": invited_user(w)[0].pk}  # noqa: E731
INVITE_TOKEN: Kwargs = lambda w: {"token": invited_user(w)[1]}  # noqa: E731


def aws_integration(w: object):
    """The AWS integration the matrix uses (one account, a profile that does not exist, so
    "test connection" answers without any network)."""
    from pixaudit.awsorg.models import AwsIntegration

    integration, _ = AwsIntegration.objects.get_or_create(
        name="Matrix AWS",
        defaults={"mode": "account", "collectors": ["aws_s3_buckets"],
                  "params": {"profile": "pixaudit-no-such-profile", "regions": ["us-east-1"]}},
    )  # fmt: skip
    return integration


def aws_run(w: object):
    from pixaudit.awsorg.models import AwsIntegrationRun

    return AwsIntegrationRun.objects.get_or_create(
        integration=aws_integration(w), status="succeeded"
    )[0]


AWS: Kwargs = lambda w: {"pk": aws_integration(w).pk}  # noqa: E731
AWS_RUN: Kwargs = lambda w: {"pk": aws_run(w).pk}  # noqa: E731


def matrix_vendor(w: object):
    """The vendor the matrix uses: one signed DPA on file and one notified incident (made
    through the services, so the register evidence exists too)."""
    from datetime import timedelta

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from pixaudit.vendors.models import Vendor
    from pixaudit.vendors.services import incident_add, vendor_file_add, vendor_save
    from tests.security.helpers import pdf_make

    vendor = Vendor.objects.filter(name="Matrix vendor").first()
    if vendor is None:
        today = timezone.localdate()
        vendor = vendor_save(data={"name": "Matrix vendor", "purpose": "Hosting",
                                   "criticality": "critical", "is_processor": True,
                                   "dpa_signed_on": today - timedelta(days=30)})  # fmt: skip
        vendor_file_add(vendor=vendor, kind="dpa", file_name="dpa.pdf",
                        upload=SimpleUploadedFile("dpa.pdf", pdf_make("dpa")))  # fmt: skip
        incident_add(vendor=vendor, notified_on=today, notify_by=today + timedelta(days=3),
                     description="Phishing at the vendor")  # fmt: skip
    return vendor


VENDOR: Kwargs = lambda w: {"pk": matrix_vendor(w).pk}  # noqa: E731
VENDOR_FILE: Kwargs = lambda w: {  # noqa: E731
    "pk": matrix_vendor(w).pk,
    "file_pk": matrix_vendor(w).files.first().pk,
}
VENDOR_INCIDENT: Kwargs = lambda w: {  # noqa: E731
    "pk": matrix_vendor(w).pk,
    "incident_pk": matrix_vendor(w).incidents.first().pk,
}


def privacy_request(w: object, *, completed: bool = False):
    """A data-subject request of the register: open, or completed with its evidence file."""
    from datetime import timedelta

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from pixaudit.privacy.models import DataSubjectRequest
    from pixaudit.privacy.services import request_complete, request_create
    from tests.security.helpers import pdf_make

    reference = "DSR-MATRIX-DONE" if completed else "DSR-MATRIX-OPEN"
    found = DataSubjectRequest.objects.filter(reference=reference).first()
    if found is not None:
        return found
    today = timezone.localdate()
    item = request_create(reference=reference, kind="erasure",
                          received_on=today - timedelta(days=3))  # fmt: skip
    if completed:
        upload = SimpleUploadedFile("erasure-log.pdf", pdf_make("erased"), "application/pdf")
        request_complete(request=item, completed_on=today, upload=upload,
                         file_name="erasure-log.pdf")  # fmt: skip
    return item


DSR_OPEN: Kwargs = lambda w: {"pk": privacy_request(w).pk}  # noqa: E731
DSR_DONE: Kwargs = lambda w: {"pk": privacy_request(w, completed=True).pk}  # noqa: E731
