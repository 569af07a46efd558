"""What the deployment last wrote into Superset, kept in Superset's own key-value store.

Runs inside .venv-superset with an app context. The records live in the metadata database
(table ``key_value``, resource ``app``), so they travel with the dashboards they describe: a
metadata database restored or shared by two homes keeps its own. import_assets.py keeps the
fingerprint of the last imported bundle and each asset's ``changed_on`` right after it;
access.py keeps the demo users' password hashes as it set them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

#: Keys of the platform's records are UUIDs in this namespace (Superset's own use others).
NAMESPACE = UUID("6f1c3c3e-5b0e-4d38-9a43-1f0c2a7d9e51")


def _key(name: str) -> UUID:
    return uuid5(NAMESPACE, f"govdata:{name}")


def load(name: str) -> Any:
    """The record saved under ``name``, or None."""
    from superset.daos.key_value import KeyValueDAO
    from superset.key_value.types import JsonKeyValueCodec, KeyValueResource

    return KeyValueDAO.get_value(KeyValueResource.APP, _key(name), JsonKeyValueCodec())


def save(name: str, value: Any) -> None:
    """Save (replace) the record under ``name`` and commit."""
    from superset import db
    from superset.daos.key_value import KeyValueDAO
    from superset.key_value.types import JsonKeyValueCodec, KeyValueResource

    KeyValueDAO.upsert_entry(KeyValueResource.APP, value, JsonKeyValueCodec(), _key(name))
    db.session.commit()
