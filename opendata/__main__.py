"""``python -m opendata [--prune] [DATASET...]``: publish the declared open datasets to CKAN."""

from __future__ import annotations

import logging
import sys

from core.errors import PublishError
from core.settings import load_settings
from opendata.publish import publish_run


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    prune = "--prune" in argv
    names = [a for a in argv if a != "--prune"]
    try:
        run = publish_run(load_settings(), only=names or None, prune=prune)
    except PublishError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for result in run.published:
        print(result.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
