"""English date formats: the ISO-like dates the console always showed (French uses Django's own
``fr`` formats: ``01/11/2026``, ``14:05``). Names not set here fall back to Django's en_GB."""

SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "Y-m"
