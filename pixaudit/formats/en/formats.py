"""English locale formats for pixaudit: ISO dates, 24-hour times (see ``pixaudit.formats``)."""

from pixaudit.lib.display import (
    DJANGO_DATE_FORMAT as DATE_FORMAT,
)
from pixaudit.lib.display import (
    DJANGO_DATETIME_FORMAT as DATETIME_FORMAT,
)
from pixaudit.lib.display import (
    DJANGO_TIME_FORMAT as TIME_FORMAT,
)

SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
YEAR_MONTH_FORMAT = "Y-m"
MONTH_DAY_FORMAT = "m-d"
FIRST_DAY_OF_WEEK = 1  # Monday, as ISO 8601
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]
__all__ = [
    "DATETIME_FORMAT",
    "DATETIME_INPUT_FORMATS",
    "DATE_FORMAT",
    "DATE_INPUT_FORMATS",
    "FIRST_DAY_OF_WEEK",
    "MONTH_DAY_FORMAT",
    "SHORT_DATETIME_FORMAT",
    "SHORT_DATE_FORMAT",
    "TIME_FORMAT",
    "YEAR_MONTH_FORMAT",
]
