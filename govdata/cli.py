"""``govdata``: the platform's command line. Every step prints what it did and how long it took."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from core.errors import SettingsError
from core.settings import Settings, load_settings
from govdata import backup, pipeline, simulation
from ingestion.ledger import IngestResult
from opendata.spec import default_manifest_path
from simulator.generate import DEFAULT_END, DEFAULT_START
from transform.dbt import run_dbt

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console()
T = TypeVar("T")


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


def _step(name: str, action: Callable[[], T]) -> T:
    """Run a step; a known failure becomes one red line and exit code 1."""
    started = time.monotonic()
    try:
        result = action()
    except (RuntimeError, ValueError, OSError) as error:
        console.print(f"[red]{name} failed:[/red] {escape(str(error))}")
        raise typer.Exit(1) from None
    console.print(f"[green]{name}[/green] done in {time.monotonic() - started:.1f} s")
    return result


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


@app.command("simulate")
def simulate_command(
    out: Annotated[Path | None, typer.Option(help="Output directory [home/sources].")] = None,
    scale: Annotated[float | None, typer.Option(help="1 = one province-year.")] = None,
    seed: Annotated[int | None, typer.Option(help="Same seed, same bytes.")] = None,
    province: Annotated[
        str | None,
        typer.Option(
            help="Province code (2 digits), or for a national warehouse 'all' or a "
            "comma-separated list (each under home/sources/<code>)."
        ),
    ] = None,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD).")] = DEFAULT_START.isoformat(),
    end: Annotated[str, typer.Option(help="Last day (YYYY-MM-DD).")] = DEFAULT_END.isoformat(),
    faults: Annotated[
        float, typer.Option(help="Share of records spoiled on purpose (listed in faults.jsonl).")
    ] = 0.0,
) -> None:
    """Write the simulated province's source-system exports."""
    settings = _settings(province_code=province)
    first, last = _day(start, "--start"), _day(end, "--end")
    if last < first:
        raise typer.BadParameter(f"{end} is before {start}", param_hint="--end")
    with _progress() as progress:
        days = progress.add_task(
            "simulating days", total=((last - first).days + 1) * len(settings.provinces)
        )
        summaries = _step(
            "simulate",
            lambda: simulation.simulate_sources(
                settings,
                out,
                scale,
                seed,
                first,
                last,
                fault_rate=faults,
                on_day=lambda _: progress.advance(days),
            ),
        )
    for summary in summaries:
        table = Table("source", "records", title=f"{summary.province_name}, {first} to {last}")
        for source, n in summary.counts.items():
            table.add_row(source, f"{n:,}")
        console.print(table)
        if summary.faults:
            console.print(
                f"{summary.faults:,} faults injected, listed in {summary.out}/faults.jsonl"
            )
        console.print(f"written to {summary.out} in {summary.seconds:.1f} s")


def _ingest(settings: Settings) -> None:
    def ingest_sources() -> list[IngestResult]:
        results = []
        for reading in simulation.each_province(settings):  # several in a national home
            results += pipeline.ingest(reading, on_page=lambda _: progress.advance(task))
        return results

    with _progress() as progress:
        task = progress.add_task("ingesting pages", total=None)
        results = _step("ingest", ingest_sources)
    table = Table("status", "read", "loaded", "rejected", "duplicate", "watermark", "seconds")
    table.columns.insert(0, Column("source", no_wrap=True))
    for r in results:
        c = r.counts
        table.add_row(
            f"{r.province_code} {r.source}" if settings.is_national else r.source,
            r.status if r.status != "failed" else "[red]failed[/red]",
            f"{c.read:,}",
            f"{c.loaded:,}",
            f"{c.rejected:,}",
            f"{c.duplicate:,}",
            r.watermark_to or "",
            f"{r.seconds:.1f}",
        )
    console.print(table)
    failed = pipeline.failures(results)
    for r in failed:
        console.print(f"[red]{r.source} failed:[/red] {escape(r.message or 'see ops.ingest_runs')}")
    if failed:  # the others loaded; the orchestrator must still hear of it
        raise typer.Exit(1)


def _build(settings: Settings) -> None:
    outcome = _step("build", lambda: pipeline.build(settings))
    console.print(f"dbt build on {settings.target}: {outcome.dbt.nodes} nodes passed")
    if outcome.serving_copy:
        console.print(f"serving copy for readers: {outcome.serving_copy}")


def _publish(settings: Settings, prune: bool = False) -> None:
    run = _step("publish", lambda: pipeline.publish(settings, prune=prune))
    for result in run.published:
        console.print(f"published {result.summary()}")
    for name in run.pruned:
        console.print(f"deleted {name}: no exposure declares it any more (--prune)")
    for name in run.orphans:
        console.print(
            f"[yellow]kept {name}[/yellow]: no exposure declares it any more "
            "(delete it with `govdata publish --prune`)"
        )


def _dashboards(
    settings: Settings, reimport: bool = False, reset_admin_password: bool = False
) -> None:
    url = _step("dashboards", lambda: pipeline.dashboards(settings, reimport, reset_admin_password))
    console.print(f"dashboard: {url}")
    from govdata.services import superset

    for topic in superset.DASHBOARD_TOPICS[1:]:
        console.print(
            f"dashboard: {superset.dashboard_url(settings, settings.profile.dashboard_slug(topic))}"
        )
    if settings.deployment == "demo":
        console.print(
            "demo users (password GOVDATA_SUPERSET_DEMO_PASSWORD): lanhdao (province),"
            " phantich (analyst, SQL Lab), xa-<commune code> (one commune)"
        )


@app.command()
def ingest() -> None:
    """Bring every source's new records into the warehouse's raw layer."""
    _ingest(_settings())


@app.command()
def build() -> None:
    """Build and test the dbt models, then refresh the serving copy."""
    _build(_settings())


@app.command()
def docs() -> None:
    """Generate the dbt documentation of every model and column (dbt_project/target/)."""
    settings = _settings()
    _step("docs", lambda: run_dbt(settings, "docs generate"))
    console.print(
        f"open {default_manifest_path().parent / 'index.html'}, or serve it with "
        "`dbt docs serve --project-dir dbt_project --profiles-dir dbt_project`"
    )


@app.command()
def publish(
    to: Annotated[
        Path | None,
        typer.Option(
            help="Write the datasets as a Frictionless Data Package in this directory "
            "instead of publishing to the portal (for portals we do not run)."
        ),
    ] = None,
    prune: Annotated[
        bool, typer.Option(help="Delete the portal's datasets that no exposure declares.")
    ] = False,
) -> None:
    """Publish the declared open datasets to the CKAN portal (or, with --to, to a directory)."""
    settings = _settings()
    if to is None:
        _publish(settings, prune=prune)
        return
    package = _step("package", lambda: pipeline.package(settings, to))
    console.print(f"data package: {package} ({len(json_resources(package))} resources)")


def json_resources(path: Path) -> list[object]:
    import json

    return list(json.loads(path.read_text(encoding="utf-8")).get("resources", []))


@app.command()
def dashboards(
    reimport: Annotated[
        bool,
        typer.Option(
            help="Import the dashboards bundle even if it is unchanged since the last import "
            "(assets changed in Superset are saved under home/superset/backups/ first)."
        ),
    ] = False,
    reset_admin_password: Annotated[
        bool,
        typer.Option(
            help="Set the Superset admin's password to GOVDATA_SUPERSET_ADMIN_PASSWORD "
            "(read from the environment or .env, never from the command line)."
        ),
    ] = False,
) -> None:
    """Start or refresh Superset with the dashboards from superset_assets/.

    What was changed in Superset's UI is kept: the bundle is imported only when it changed,
    after saving what it overwrites; the admin's password is never reset unless asked.
    """
    _dashboards(_settings(), reimport, reset_admin_password)


@app.command("backup")
def backup_command(
    directory: Annotated[Path, typer.Argument(help="A new (or empty) directory.")],
) -> None:
    """Back up the warehouse, its ops state (watermarks, runs, rejections) and the secrets."""
    summary = _step("backup", lambda: backup.backup(_settings(), directory))
    console.print(f"{summary.tables} tables of the {summary.target} warehouse in {directory}")


@app.command("restore")
def restore_command(
    directory: Annotated[Path, typer.Argument(help="A directory written by govdata backup.")],
    replace: Annotated[
        bool, typer.Option(help="Replace a warehouse that is not empty (else refused).")
    ] = False,
) -> None:
    """Restore a backup; the next ingest goes on from the watermarks it holds."""
    summary = _step("restore", lambda: backup.restore(_settings(), directory, replace))
    console.print(f"{summary.tables} tables restored into the {summary.target} warehouse")


@app.command()
def run(
    simulate: Annotated[
        bool, typer.Option(help="Regenerate the simulated sources first (simulator mode).")
    ] = False,
    publish: Annotated[bool, typer.Option(help="Publish to the CKAN portal.")] = True,
    dashboards: Annotated[bool, typer.Option(help="Deploy the Superset dashboards.")] = True,
) -> None:
    """Every step in order: simulate (if asked or none yet), ingest, build, publish, dashboards."""
    settings = _settings()
    started = time.monotonic()
    if settings.sources == "simulator" and (simulate or not simulation.has_sources(settings)):
        simulate_command(None, None, None, None, DEFAULT_START.isoformat(), DEFAULT_END.isoformat())
    _ingest(settings)
    _build(settings)
    if publish:
        _publish(settings)
    if dashboards:
        _dashboards(settings)
    console.print(f"[bold green]run complete[/bold green] in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    app()
