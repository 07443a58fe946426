"""Users and their role.

One role per user keeps the permission matrix small and auditable: admin (users and
settings), compliance manager (controls, applicability, manual evidence, reviews,
engagements), engineer (connections and collectors, read posture) and auditor (external,
read-only, engagement-scoped).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    COMPLIANCE_MANAGER = "compliance_manager", "Compliance manager"
    ENGINEER = "engineer", "Engineer"
    AUDITOR = "auditor", "Auditor"


class User(AbstractUser):
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.ENGINEER)

    class Meta:
        db_table = "accounts_user"

    @property
    def is_auditor(self) -> bool:
        return self.role == Role.AUDITOR

    def has_role(self, *roles: str) -> bool:
        return self.role in roles
