"""Framework mappings shared by the AWS assertions: ``controls`` and ``rationale`` per theme.

Use as ``@assertion(..., **ENCRYPTION_AT_REST)``.

One place per theme keeps the SOC 2 and ISO 27001:2022 mapping consistent across collectors
(an encryption-at-rest check maps the same way for S3, EBS and RDS).
"""

from __future__ import annotations

ENCRYPTION_AT_REST = dict(
    controls=("soc2-2017:CC6.1", "soc2-2017:C1.1", "iso27001-2022:A.8.24"),
    rationale=(
        "Encrypting stored data is a logical access safeguard over information assets (CC6.1) "
        "that protects confidential information (C1.1); it is the use of cryptography that "
        "A.8.24 requires."
    ),
)
KEY_MANAGEMENT = dict(
    controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.24"),
    rationale=(
        "Rotating encryption keys limits what one compromised key exposes; key management is "
        "part of the cryptography control (A.8.24) and of logical access security (CC6.1)."
    ),
)
ENCRYPTION_IN_TRANSIT = dict(
    controls=("soc2-2017:CC6.7", "iso27001-2022:A.5.14", "iso27001-2022:A.8.24"),
    rationale=(
        "Refusing unencrypted or weakly encrypted connections protects data while it moves "
        "(CC6.7), secures information transfer (A.5.14) and applies cryptography (A.8.24)."
    ),
)
ROOT_ACCESS = dict(
    controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.2", "iso27001-2022:A.8.5"),
    rationale=(
        "The root user is the most privileged identity of the account: protecting it is "
        "privileged access management (A.8.2) and secure authentication (A.8.5, CC6.1)."
    ),
)
AUTHENTICATION = dict(
    controls=("soc2-2017:CC6.1", "iso27001-2022:A.5.17", "iso27001-2022:A.8.5"),
    rationale=(
        "Strong authentication (MFA, password rules, short-lived keys) is part of logical "
        "access security (CC6.1), the management of authentication information (A.5.17) and "
        "secure authentication (A.8.5)."
    ),
)
CREDENTIAL_LIFECYCLE = dict(
    controls=("soc2-2017:CC6.2", "soc2-2017:CC6.3", "iso27001-2022:A.5.18"),
    rationale=(
        "Credentials nobody uses should have been removed when access was no longer needed "
        "(CC6.2, CC6.3); reviewing and revoking access rights is A.5.18."
    ),
)
BACKUP = dict(
    controls=("soc2-2017:A1.2", "soc2-2017:CC9.1", "iso27001-2022:A.8.13"),
    rationale=(
        "Backups and point-in-time recovery are the recovery infrastructure of A1.2, mitigate "
        "business disruption (CC9.1) and are information backup (A.8.13)."
    ),
)
BACKUP_PROTECTION = dict(
    controls=("soc2-2017:A1.2", "soc2-2017:CC6.1", "iso27001-2022:A.8.13", "iso27001-2022:A.8.24"),
    rationale=(
        "Backups hold the same data as production and must be protected like it: encrypted "
        "recovery points (A.8.24, CC6.1) are part of information backup (A.8.13, A1.2)."
    ),
)
AUDIT_LOGGING = dict(
    controls=("soc2-2017:CC7.2", "soc2-2017:CC4.1", "iso27001-2022:A.8.15", "iso27001-2022:A.8.16"),
    rationale=(
        "An account-wide, tamper-evident record of API activity is the basis of monitoring for "
        "anomalies (CC7.2, A.8.16) and of logging (A.8.15), and evidence for control "
        "evaluations (CC4.1)."
    ),
)
THREAT_DETECTION = dict(
    controls=("soc2-2017:CC7.2", "soc2-2017:CC6.8", "iso27001-2022:A.8.16", "iso27001-2022:A.8.7"),
    rationale=(
        "Managed threat detection monitors the environment for anomalies and malicious activity "
        "(CC7.2, CC6.8, A.8.16, A.8.7); the policy promises 24/7 monitoring."
    ),
)
RETENTION = dict(
    controls=("soc2-2017:C1.2", "soc2-2017:P4.2", "soc2-2017:P4.3", "iso27001-2022:A.8.10"),
    rationale=(
        "Deleting data once its retention period ends is the disposal of confidential and "
        "personal information (C1.2, P4.2, P4.3) and information deletion (A.8.10); the policy "
        "promises that images are deleted after 7 days."
    ),
)

WEB_APPLICATION_FIREWALL = dict(
    controls=("soc2-2017:CC6.1", "soc2-2017:CC6.6", "iso27001-2022:A.8.20", "iso27001-2022:A.8.21"),
    rationale=(
        "A web application firewall in front of every internet-facing API filters requests "
        "from outside the system boundary (CC6.6) as part of the logical access architecture "
        "(CC6.1); it is a network security measure (A.8.20) on the network services the "
        "APIs are offered through (A.8.21)."
    ),
)

RATE_LIMITING = dict(
    controls=("soc2-2017:CC6.6", "soc2-2017:A1.1", "iso27001-2022:A.8.6", "iso27001-2022:A.8.20"),
    rationale=(
        "Rate limiting blocks floods, credential stuffing and scraping from outside the "
        "boundary (CC6.6, A.8.20) and keeps demand within the capacity planned for the "
        "service (A1.1, A.8.6); the policy promises API rate limiting."
    ),
)
