"""``python -m opendata [DATASET...]``: publish the declared open datasets to CKAN."""

from __future__ import annotations

import logging
import sys

from core.settings import load_settings
from opendata.publish import publish_all


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = publish_all(load_settings(), only=argv or None)
    for result in results:
        print(result.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
