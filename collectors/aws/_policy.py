"""The least-privilege IAM policy covering a set of AWS collectors.

``manage.py collectors --iam-policy aws`` prints ``iam_policy(<every AWS collector>)`` as
JSON; attach it to the role or user pixaudit collects with. Every action is read-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from collectors.base import Collector

__all__ = ["iam_policy"]


def iam_policy(collector_classes: Iterable[type[Collector]]) -> dict[str, Any]:
    """Return an IAM policy document allowing exactly the declared ``permissions``.

    Only collectors whose ``source`` is ``aws`` contribute. Actions are de-duplicated and
    grouped per service into one statement each (``Sid`` ``PixauditS3``, ...), sorted, so
    the output is deterministic. The listed APIs do not support resource-level
    permissions, so ``Resource`` is ``"*"``.
    """
    by_service: dict[str, set[str]] = {}
    for cls in collector_classes:
        if cls.source != "aws":
            continue
        for action in cls.permissions:
            service = action.split(":", 1)[0]
            by_service.setdefault(service, set()).add(action)
    statements = [
        {
            "Sid": "Pixaudit" + "".join(part.capitalize() for part in service.split("-")),
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": "*",
        }
        for service, actions in sorted(by_service.items())
    ]
    return {"Version": "2012-10-17", "Statement": statements}
