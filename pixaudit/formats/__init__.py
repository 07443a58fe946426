"""Django format modules (``FORMAT_MODULE_PATH``): one date format on every page and PDF.

Django's English locale would print dates as "Dec. 20, 2026"; pixaudit prints ISO 8601
days ("2026-12-20") and 24-hour times with their zone, the same as the ``when`` filter and
the reports. Values are defined once in :mod:`pixaudit.lib.display`.
"""
