"""The platform's errors: one type per concern, each message naming what to fix.

Every step raises one of these for a failure a person can act on (a wrong setting, a source
that cannot be read, a build that failed, a dataset that cannot be published); the command
line prints the message as one line and the orchestrator alerts with it. Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


class GovdataError(RuntimeError):
    """A failure the message explains; the base of the concerns below."""


class SettingsError(GovdataError):
    """The environment holds an invalid setting (or an unknown province)."""


class SourceError(GovdataError):
    """A source, or one of its files or pages, cannot be read at all (as opposed to a bad
    record in it, which is rejected with its reason): names the source and what went wrong."""


class BuildError(GovdataError):
    """The dbt build (or its tests) failed: the message names the failing nodes."""


class PublishError(GovdataError):
    """A dataset could not be published: the message names it and why."""


class ServiceError(GovdataError):
    """A platform service (Superset, CKAN, Airflow) could not be set up, started or reached."""


class BusyError(GovdataError):
    """Another run is writing to the warehouse (DuckDB has one writer): the message says which
    and since when; try again when it has finished."""


class BackupError(GovdataError):
    """A backup could not be written, or a restore could not be done: the message says why."""
