"""HR system collectors (BambooHR, and a CSV/XLSX export of any HR system)."""

from __future__ import annotations
