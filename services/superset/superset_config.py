"""Superset configuration of the GovData platform (loaded through SUPERSET_CONFIG_PATH).

Runs inside .venv-superset, which does not have the govdata package: everything comes from
environment variables that govdata.services.superset sets from the platform's settings.

- GOVDATA_HOME: data directory; Superset keeps its own files under $GOVDATA_HOME/superset.
- GOVDATA_SUPERSET_METADATA_URL: Superset's metadata database (PostgreSQL).
- GOVDATA_SUPERSET_SECRET_KEY or SUPERSET_SECRET_KEY: the secret key; when neither is set a
  random key is generated once into $GOVDATA_HOME/superset/secret_key (mode 600). It encrypts
  the connection passwords stored in the metadata database: keep it with that database.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_HOME = Path(os.environ.get("GOVDATA_HOME", "data")).expanduser().resolve()
DATA_DIR = str(_HOME / "superset")
Path(DATA_DIR).mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    for name in ("GOVDATA_SUPERSET_SECRET_KEY", "SUPERSET_SECRET_KEY"):
        if value := os.environ.get(name):
            return value
    path = Path(DATA_DIR) / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = os.environ.get(
    "GOVDATA_SUPERSET_METADATA_URL", "postgresql://postgres@127.0.0.1:5432/govdata_superset"
)

APP_NAME = "GovData"
ROW_LIMIT = 50_000
SHOW_STACKTRACE = False
# Data is never cached: the serving copy changes after each pipeline run.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
RATELIMIT_STORAGE_URI = "memory://"

FEATURE_FLAGS = {
    "ALERT_REPORTS": False,
    "THUMBNAILS": False,
    "EMBEDDED_SUPERSET": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
}

# No telemetry or analytics: the front end renders a tracking pixel from an outside host, and
# this policy keeps browsers from loading anything that is not served by Superset itself.
_SELF = "'self'"
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": [_SELF],
        "default-src": [_SELF],
        "img-src": [_SELF, "blob:", "data:"],
        "worker-src": [_SELF, "blob:"],
        "connect-src": [_SELF],
        "object-src": "'none'",
        "style-src": [_SELF, "'unsafe-inline'"],
        "font-src": [_SELF, "data:"],
        "script-src": [_SELF, "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
TALISMAN_DEV_CONFIG = TALISMAN_CONFIG

# Numbers and dates the Vietnamese way: 1.234.567,8 and 89,8%; months in Vietnamese.
D3_FORMAT = {"decimal": ",", "thousands": ".", "grouping": [3], "currency": ["", " ₫"]}
D3_TIME_FORMAT = {
    "dateTime": "%H:%M:%S %d/%m/%Y",
    "date": "%d/%m/%Y",
    "time": "%H:%M:%S",
    "periods": ["SA", "CH"],
    "days": ["Chủ nhật", "Thứ hai", "Thứ ba", "Thứ tư", "Thứ năm", "Thứ sáu", "Thứ bảy"],
    "shortDays": ["CN", "T2", "T3", "T4", "T5", "T6", "T7"],
    "months": [f"Tháng {n}" for n in range(1, 13)],
    "shortMonths": [f"Th{n}" for n in range(1, 13)],
}
