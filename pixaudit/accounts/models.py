"""Users and their role.

One role per user keeps the permission matrix small and auditable: admin (users and
settings), compliance manager (controls, applicability, manual evidence, reviews,
engagements), engineer (connections and collectors, read posture) and auditor (external,
read-only, engagement-scoped).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django_otp.models import Device, ThrottlingMixin, TimestampMixin


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    COMPLIANCE_MANAGER = "compliance_manager", "Compliance manager"
    ENGINEER = "engineer", "Engineer"
    AUDITOR = "auditor", "Auditor"


class PixauditUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        # `manage.py createsuperuser` makes an administrator: give it the admin role too, so
        # role rules (and MFA) treat it as one.
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.ENGINEER)

    objects = PixauditUserManager()

    class Meta:
        db_table = "accounts_user"

    @property
    def is_auditor(self) -> bool:
        return self.role == Role.AUDITOR

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


class LoginFailure(models.Model):
    """Throttle state: one failed sign-in. The audit log keeps the permanent record."""

    username = models.CharField(max_length=150, db_index=True, help_text="Lower-cased.")
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"failed sign-in {self.username} from {self.ip} at {self.at:%Y-%m-%d %H:%M}"


class LoginLockout(models.Model):
    """Sign-in refused for a username or an IP address until ``locked_until``."""

    class Scope(models.TextChoices):
        USERNAME = "username", "Username"
        IP = "ip", "IP address"

    scope = models.CharField(max_length=16, choices=Scope.choices)
    key = models.CharField(max_length=150)
    locked_until = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["scope", "key"], name="accounts_lockout_key_idx")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} locked until {self.locked_until:%Y-%m-%d %H:%M}"


class RecoveryCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """A user's one-time MFA recovery codes (django-otp device; the codes are hashed).

    Replaces django-otp's ``StaticDevice``, whose tokens are stored (and shown in its admin)
    in plain text. Wrong codes are throttled like django-otp's devices (1 s, 2 s, 4 s ...).
    """

    class Meta:
        verbose_name = "recovery code set"

    def get_throttle_factor(self) -> float:
        return getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1)

    def verify_token(self, token: str) -> bool:
        """Accept an unused code once (it is deleted); call under a row lock on the device."""
        from pixaudit.accounts.recovery_codes import recovery_code_matches

        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        match = next(
            (code for code in self.codes.all() if recovery_code_matches(token, code.code_hash)),
            None,
        )
        if match is None:
            self.throttle_increment()
            return False
        match.delete()
        self.throttle_reset(commit=False)
        self.set_last_used_timestamp(commit=False)
        self.save()
        return True


class RecoveryCode(models.Model):
    """One unused recovery code, stored only as a salted hash (``recovery_codes``)."""

    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=128)

    def __str__(self) -> str:
        return f"recovery code #{self.pk} of device {self.device_id}"


class InvitationEmail(models.TextChoices):
    """Where a user invitation's e-mail is."""

    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Not sent (invitation no longer pending)"


class UserInvitation(models.Model):
    """An invitation for an internal user to choose a password and sign in.

    The user exists from the invitation on (with no usable password, so it can be given a
    role or deactivated like any other); only the SHA-256 of the link's token is stored,
    and the token is made by the mail job that sends it (``accounts.jobs``): until a mail
    left, the stored hash matches no link. Sending again makes a new link and the previous
    one stops working.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    email_status = models.CharField(
        max_length=16, choices=InvitationEmail.choices, default=InvitationEmail.QUEUED
    )
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation of {self.email}"

    @property
    def status(self) -> str:
        """pending, accepted or expired."""
        from django.utils import timezone

        if self.accepted_at is not None:
            return "accepted"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ExternalIdentity(models.Model):
    """A user's identity at an OpenID Connect provider: the token's issuer and subject.

    Single sign-on finds users by this pair (``pixaudit.accounts.oidc``), never by a name
    or address the provider lets people change.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="accounts_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
