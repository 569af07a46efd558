"""Platform settings, read from ``GOVDATA_*`` environment variables and an optional ``.env``.

Everything that differs between a laptop demo, CI and a provincial server is here, validated
once at start so a typo fails with a clear message instead of half-way through a run.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import SettingsError
from core.profile import ProvinceProfile, province_codes, province_profile

REPO_ROOT = Path(__file__).resolve().parent.parent


#: Passwords that ship with the code: fine for a demo, refused by a production deployment.
DEFAULT_PASSWORDS = {"superset_admin_password": "admin", "superset_demo_password": "demo"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GOVDATA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(Path("data"), description="Data directory: warehouse, landing, logs.")
    target: Literal["duckdb", "postgres", "spark"] = Field(
        "duckdb",
        description="Warehouse engine: embedded DuckDB, a served PostgreSQL, or Apache Spark "
        "(dbt-spark; ingestion and the ops ledger stay in the embedded DuckDB file).",
    )
    pg_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/govdata",
        description="PostgreSQL warehouse URL, used when target is postgres.",
    )

    # The spark target: dbt-spark's session mode runs Spark in the pipeline's process.
    spark_master: str = Field(
        "local[2]", description="Spark master of the spark target's session (local[N] or a URL)."
    )
    spark_driver_memory: str = Field("2g", description="Heap of the spark target's driver JVM.")

    # Any of the 34 provinces in force since 1 July 2025; the demo's default is 37 (core.profile).
    # A national home holds several: 'all' (the 34) or a comma-separated list of codes.
    province_code: str = Field(
        "37",
        description="The province served: its code since 1 July 2025 (two digits); for a "
        "national warehouse 'all' or a comma-separated list of codes (e.g. 01,37,79).",
    )
    sources_path: Path | None = Field(
        None,
        description="Where the simulator writes and ingestion reads the source systems' "
        "exports [home/sources; home/sources/<code> for each province of a national home].",
    )

    # Source systems: the bundled simulator of the demo province, or a real province's APIs.
    sources: Literal["simulator", "live"] = Field(
        "simulator", description="'simulator' serves simulated exports from home/sources."
    )
    simulator_scale: float = Field(0.05, gt=0, description="1 = one merged province-year.")
    simulator_seed: int = 42
    procedures_api_url: str = Field(
        "http://127.0.0.1:8765", description="Base URL of the procedure system's sync API."
    )
    procedures_transport: Literal["api", "files"] = Field(
        "api",
        description="Read dossiers and events from the sync API, or from JSON-lines exports.",
    )
    procedures_dir: Path | None = Field(
        None, description="Where the procedure system drops its exports [sources/procedures]."
    )
    documents_dir: Path | None = Field(
        None, description="Where the document system drops its daily batches [sources/documents]."
    )
    reports_dir: Path | None = Field(
        None, description="Where the reporting system drops its exports [sources/reports]."
    )
    reports_format: Literal["csv", "xlsx"] = Field(
        "csv", description="Which of the reporting system's exports to read."
    )
    documents_container: Literal["zip", "folder", "lines"] = Field(
        "zip",
        description="How the simulated document system delivers a day's edXML messages: one "
        "file per message in a daily zip (zip) or a folder (folder), or one message per line "
        "in a gzip (lines). The connector reads whichever it finds.",
    )
    http_timeout_seconds: float = Field(30.0, gt=0)
    future_tolerance_hours: float = Field(
        24.0,
        ge=0,
        description="How far ahead of now (Vietnam time) a source's clock may run: "
        "a record stamped later is rejected and never moves a watermark.",
    )
    page_size: int = Field(5000, gt=0, le=10_000)
    max_record_bytes: int = Field(
        2**20,
        gt=0,
        description="A record (dossier version, event, edXML status, register row) larger "
        "than this many bytes is rejected with its reason instead of loaded.",
    )
    max_message_bytes: int = Field(
        64 * 2**20,
        gt=0,
        description="An edXML document message (its attachments included, as base64) larger "
        "than this many bytes is rejected with its reason instead of loaded.",
    )

    landing_retention_days: int | None = Field(
        90,
        ge=1,
        description="Days the landing zone keeps original payloads (personal data "
        "included); unset to keep them forever.",
    )
    pii_hash_key: SecretStr | None = Field(
        None,
        description="Key of the keyed hash that replaces personal identifiers; "
        "generated once under home when unset.",
    )

    # Orchestration (Airflow, govdata.services.airflow) and its alerts.
    task_retries: int = Field(2, ge=0, description="Airflow retries of a task whose source failed.")
    task_retry_delay_seconds: float = Field(
        300.0, ge=0, description="First retry after this long; each next one waits twice as long."
    )
    run_deadline_minutes: float = Field(
        120.0, gt=0, description="A DAG run not finished this long after it was queued is late."
    )
    airflow_host: str = Field("127.0.0.1", description="Address Airflow's API server binds.")
    airflow_port: int = Field(8080, gt=0, lt=65536, description="Airflow's UI and API port.")
    # Unset, it is named after the home, like the portal's: its connections and variables are
    # encrypted with the Fernet key kept under the home, so the two are made and cleaned
    # together (a second checkout, or a home made again after `make clean`, gets its own).
    airflow_metadata_url: str = Field(
        "",
        description="Airflow's own metadata database (PostgreSQL) "
        "[postgresql://postgres@127.0.0.1:5432/govdata_airflow_<home tag>].",
    )
    airflow_admin_user: str = Field("admin", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    airflow_admin_password: str = Field("admin", min_length=1)
    airflow_executor: Literal["LocalExecutor", "CeleryExecutor"] = Field(
        "LocalExecutor", description="LocalExecutor on one machine; CeleryExecutor to scale out."
    )
    airflow_parallelism: int = Field(4, ge=1, description="Task instances running at once.")
    airflow_celery_broker_url: str = Field(
        "redis://127.0.0.1:6379/2", description="Celery broker (Redis) of the CeleryExecutor."
    )
    airflow_celery_queue: str = Field(
        "govdata",
        description="The Celery queue the DAGs' tasks go to and the workers read: one per "
        "deployment sharing a broker (a worker takes any task of its queue).",
    )
    airflow_celery_result_backend: str | None = Field(
        None, description="Celery result backend [the metadata database]."
    )
    alert_webhook_url: str | None = Field(
        None, description="POST a JSON alert here when a run fails or is late."
    )
    alert_smtp_host: str | None = Field(None, description="Mail server for e-mail alerts.")
    alert_smtp_port: int = Field(25, gt=0, lt=65536)
    alert_email_from: str = Field("govdata@localhost", description="Sender of e-mail alerts.")
    alert_email_to: str | None = Field(
        None, description="Comma-separated recipients of e-mail alerts (the data team)."
    )

    # Dashboards (Superset).
    superset_port: int = Field(8088, gt=0, lt=65536)
    superset_host: str = Field("127.0.0.1", description="Address Superset's web server binds.")
    superset_workers: int = Field(2, ge=1, le=32, description="Superset web server processes.")
    superset_secret_key: str | None = Field(
        None, description="Superset's SECRET_KEY; when unset one is generated under home."
    )
    superset_admin_user: str = "admin"
    superset_admin_password: str = Field(
        DEFAULT_PASSWORDS["superset_admin_password"],
        description="Superset admin's password when the admin is created (changed in the UI "
        "afterwards, it is kept; `govdata dashboards --reset-admin-password` sets it again); "
        "a production deployment refuses the default.",
    )
    deployment: Literal["demo", "production"] = Field(
        "demo",
        description="'demo' creates demo users (a leader, an analyst, one per commune); "
        "'production' creates none and refuses default passwords.",
    )
    superset_demo_password: str = Field(
        DEFAULT_PASSWORDS["superset_demo_password"],
        description="Password of the demo users (demo deployments only).",
    )
    warehouse_reader: str = Field(
        "govdata_reader",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL role the dashboards and SQL Lab read the marts as (read-only).",
    )
    warehouse_reader_password: SecretStr | None = Field(
        None, description="Its password (required in production on PostgreSQL)."
    )
    superset_metadata_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/govdata_superset",
        description="Superset's own metadata database.",
    )

    # Open-data portal (CKAN).
    ckan_url: str = Field("http://127.0.0.1:5000", description="CKAN portal to publish to.")
    ckan_api_token: str | None = Field(
        None, description="Publisher's API token; the local portal writes one under home."
    )
    ckan_organization: str = Field(
        "", description="CKAN organization (publisher) [the province profile's slug]."
    )
    ckan_organization_title: str = Field(
        "", description="Title of that organization [the province's people's committee]."
    )
    ckan_site_title: str = Field("", description="The portal's title [from the province profile].")
    opendata_licence: str = Field("cc-by", description="CKAN licence id of published datasets.")
    opendata_min_cell_count: int = Field(
        5, ge=0, description="Aggregates counting fewer records than this are suppressed."
    )
    # The local portal (govdata.services.ckan): its own databases, Redis and admin account.
    # Unset, the portal's databases are named after the home that holds its files (see
    # ckan_database_tag): the database and the file storage are created and named together, so
    # a second checkout or home gets its own portal instead of records whose files are missing.
    ckan_db_url: str = Field(
        "",
        description="CKAN's own database; its user owns it and the DataStore database "
        "[postgresql://govdata_ckan@127.0.0.1:5432/govdata_ckan_<home tag>].",
    )
    ckan_datastore_write_url: str = Field(
        "", description="CKAN DataStore database, read-write user [named like ckan_db_url]."
    )
    ckan_datastore_read_url: str = Field(
        "",
        description="CKAN DataStore database, read-only user (a distinct role) "
        "[govdata_ckan_ro on the DataStore database].",
    )
    ckan_pg_admin_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        description="PostgreSQL superuser connection used to create the portal's roles and DBs.",
    )
    ckan_redis_url: str = Field("redis://127.0.0.1:6379/1", description="CKAN's Redis.")
    ckan_admin_user: str = Field("govdata-admin", pattern=r"^[a-z0-9_-]{2,100}$")
    ckan_admin_password: str = Field(
        "govdata-opendata", min_length=8, description="Local portal sysadmin password."
    )
    ckan_venv: Path = Field(
        REPO_ROOT / ".venv-ckan", description="CKAN's own virtualenv (services/ckan/install.sh)."
    )

    def default_passwords(self) -> list[str]:
        """The settings a production deployment must change: the admin's password left at its
        default, and PostgreSQL's read-only role without a password (demo users exist only in
        a demo deployment)."""
        found = []
        if self.superset_admin_password == DEFAULT_PASSWORDS["superset_admin_password"]:
            found.append("superset_admin_password")
        if self.target == "postgres" and self.warehouse_reader_password is None:
            found.append("warehouse_reader_password")
        return [f"GOVDATA_{name.upper()}" for name in found]

    @field_validator("province_code")
    @classmethod
    def _province_in_force(cls, value: str) -> str:
        try:
            return ",".join(parse_provinces(value))
        except SettingsError as error:
            raise SettingsError(f"invalid settings: GOVDATA_PROVINCE_CODE: {error}") from None

    @property
    def provinces(self) -> tuple[ProvinceProfile, ...]:
        """The provinces this home holds: one, or several in a national warehouse."""
        return tuple(province_profile(code) for code in self.province_code.split(","))

    @property
    def is_national(self) -> bool:
        """Whether the settings name several provinces (a national warehouse)."""
        return "," in self.province_code

    @cached_property
    def profile(self) -> ProvinceProfile:
        """The province's names: titles, slugs, publisher, spatial coverage (core.profile).
        A national home has none: its provinces' are in :attr:`provinces`."""
        if self.is_national:
            raise SettingsError(
                f"the settings name {len(self.provinces)} provinces ({self.province_code}): a "
                "national warehouse has no single province profile (see Settings.provinces)"
            )
        return province_profile(self.province_code)

    def for_province(self, code: str) -> Settings:
        """One province's settings within this home: its code, and in a national home its
        sources under home/sources/<code>. Each ingestion run is made with one of these."""
        code = province_profile(code).code
        if code not in self.province_code.split(","):
            raise SettingsError(f"province {code} is not among this home's ({self.province_code})")
        if not self.is_national:
            return self
        one = self.model_copy(
            update={
                "province_code": code,
                "sources_path": self.sources_path or self.home / "sources" / code,
            }
        )
        one.__dict__.pop("profile", None)  # cached for the national settings: none
        profile = one.profile
        one.ckan_organization = one.ckan_organization or profile.organization
        one.ckan_organization_title = one.ckan_organization_title or profile.committee
        one.ckan_site_title = one.ckan_site_title or profile.portal_title
        return one

    @model_validator(mode="after")
    def _names_from_the_profile(self) -> Settings:
        """Names left unset are the province profile's (core.profile)."""
        if self.is_national:
            return self
        profile = self.profile
        self.ckan_organization = self.ckan_organization or profile.organization
        self.ckan_organization_title = self.ckan_organization_title or profile.committee
        self.ckan_site_title = self.ckan_site_title or profile.portal_title
        return self

    @model_validator(mode="after")
    def _portal_databases_named_after_home(self) -> Settings:
        """Portal databases left unset are named after the home holding the portal's files."""
        base = f"postgresql://govdata_ckan@127.0.0.1:5432/govdata_ckan_{self.ckan_database_tag}"
        self.ckan_db_url = self.ckan_db_url or base
        self.ckan_datastore_write_url = self.ckan_datastore_write_url or f"{base}_datastore"
        self.ckan_datastore_read_url = self.ckan_datastore_read_url or (
            f"postgresql://govdata_ckan_ro@127.0.0.1:5432/"
            f"govdata_ckan_{self.ckan_database_tag}_datastore"
        )
        return self

    @model_validator(mode="after")
    def _airflow_database_named_after_home(self) -> Settings:
        """Airflow's metadata database left unset is named after the home holding its key."""
        self.airflow_metadata_url = (
            self.airflow_metadata_url
            or f"postgresql://postgres@127.0.0.1:5432/govdata_airflow_{self.ckan_database_tag}"
        )
        return self

    @property
    def ckan_database_tag(self) -> str:
        """Eight hex digits naming this home's portal and Airflow databases (a hash of its
        path)."""
        return hashlib.sha256(str(self.home).encode()).hexdigest()[:8]

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @cached_property
    def warehouse_path(self) -> Path:
        """The embedded warehouse: only the pipeline writes it."""
        return self.home / "warehouse.duckdb"

    @cached_property
    def serving_path(self) -> Path:
        """Read-only copy for Superset and publishing, replaced atomically after a build."""
        return self.home / "serving" / "warehouse.duckdb"

    @property
    def spark_dir(self) -> Path:
        """The spark target's files: the raw and ops tables as Parquet (sources/), the
        metastore, and the warehouse directory the models are written to (warehouse/)."""
        return self.home / "spark"

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def sources_dir(self) -> Path:
        """Where the simulator writes the province's exports (a national home: the root of
        each province's directory, home/sources/<code>)."""
        return self.sources_path or self.home / "sources"

    @property
    def procedures_exports_dir(self) -> Path:
        return (self.procedures_dir or self.sources_dir / "procedures").resolve()

    @property
    def documents_export_dir(self) -> Path:
        return (self.documents_dir or self.sources_dir / "documents").resolve()

    @property
    def reports_export_dir(self) -> Path:
        return (self.reports_dir or self.sources_dir / "reports").resolve()

    @property
    def ckan_api_token_path(self) -> Path:
        """Where the local portal (govdata.services.ckan) writes the publisher's API token."""
        return self.home / "ckan" / "api_token"

    def ckan_token(self) -> str | None:
        """The publisher's API token: ``GOVDATA_CKAN_API_TOKEN``, else the local portal's file."""
        if self.ckan_api_token:
            return self.ckan_api_token
        try:
            token = self.ckan_api_token_path.read_text().strip()
        except FileNotFoundError:
            return None
        return token or None

    def claim_home(self) -> None:
        """A home holds one province's data, or a national warehouse's provinces: the first
        writer records them (``province_code``, comma-separated), and a writer configured for
        others is refused rather than mixing them. One province of a national home
        (:meth:`for_province`) may write in it."""
        marker = self.home / "province_code"
        if marker.exists():
            held = marker.read_text().strip()
            national = "," in held
            if held != self.province_code and not (
                national and not self.is_national and self.province_code in held.split(",")
            ):
                holds = f"provinces {held}" if national else f"province {held}"
                wanted = (
                    f"the provinces {self.province_code}"
                    if self.is_national
                    else f"{self.province_code} ({self.profile.short_name})"
                )
                raise SettingsError(
                    f"{self.home} holds the data of {holds}, not {wanted}: set GOVDATA_HOME "
                    "to another directory for it, or empty this one (`make clean`)"
                )
            return
        self.home.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{self.province_code}\n")

    def pii_key(self) -> bytes:
        """The keyed-hash secret: from the environment, else created once under home."""
        if self.pii_hash_key is not None:
            return self.pii_hash_key.get_secret_value().encode()
        path = self.home / "secrets" / "pii_hash.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()


def parse_provinces(value: str) -> list[str]:
    """'37' -> ['37']; 'all' -> the 34 codes; '79, 1,37' -> ['01', '37', '79'] (each code
    checked: a pre-merger one is refused naming the province it became)."""
    text = value.strip()
    if text.lower() == "all":
        return province_codes()
    codes = sorted({province_profile(part).code for part in text.split(",") if part.strip()})
    if not codes:
        raise SettingsError(f"no province code in {value!r}")
    return codes


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings (``overrides`` win over the environment), turning
    pydantic's report into one clear error."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"GOVDATA_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
