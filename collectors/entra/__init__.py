"""Microsoft Entra ID collectors (Microsoft Graph)."""

from __future__ import annotations
