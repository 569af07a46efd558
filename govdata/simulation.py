"""The simulated province, wired in by the demo and the command line (never by the pipeline).

In simulator mode (``GOVDATA_SOURCES=simulator``, the default) the procedure system's sync API
is the simulator serving the exports under ``home/sources`` on a free port, for the duration of
one command or one Airflow task (the procedure DAG's ``ingest``). A deployment that keeps the
simulated API running points ``GOVDATA_PROCEDURES_API_URL`` at it with
``GOVDATA_SOURCES=live``, as for a real province.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from core.errors import SourceError
from core.settings import Settings
from simulator.api import serving
from simulator.generate import DEFAULT_END, DEFAULT_START, SimulationSummary, simulate


def simulate_sources(
    settings: Settings,
    out: Path | None = None,
    scale: float | None = None,
    seed: int | None = None,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    fault_rate: float = 0.0,
    on_day: Callable[[date], None] | None = None,
) -> list[SimulationSummary]:
    """Write the province's source exports (by default under home/sources); for a national
    home, each province's under home/sources/<code> (or ``out``/<code>), each the same as
    when simulated alone with the same seed."""
    if out is None:
        settings.claim_home()
    if settings.is_national:
        return [
            summary
            for profile in settings.provinces
            for summary in simulate_sources(
                settings.for_province(profile.code),
                None if out is None else out / profile.code,
                scale,
                seed,
                start,
                end,
                fault_rate,
                on_day,
            )
        ]
    return [
        simulate(
            out or settings.sources_dir,
            scale=settings.simulator_scale if scale is None else scale,
            seed=settings.simulator_seed if seed is None else seed,
            province_code=settings.province_code,
            start=start,
            end=end,
            fault_rate=fault_rate,
            on_day=on_day,
            documents_container=settings.documents_container,
        )
    ]


def has_sources(settings: Settings) -> bool:
    """Whether the province's sources (each province's, in a national home) are simulated."""
    return all(
        (one.sources_dir / "procedures" / "dossiers.jsonl").exists()
        for one in (settings.for_province(p.code) for p in settings.provinces)
    )


@contextmanager
def sources_for(settings: Settings) -> Iterator[Settings]:
    """The settings a step reads the sources with: unchanged for live sources or exports; in
    simulator mode with the procedure API served from home/sources if nothing serves it."""
    if settings.sources == "live" or settings.procedures_transport == "files":
        yield settings
        return
    if settings.is_national:
        raise SourceError(
            f"the settings name {len(settings.provinces)} provinces: read each one's sources "
            "with its own settings (govdata.simulation.each_province)"
        )
    if not has_sources(settings):
        raise SourceError(
            f"no simulated sources under {settings.sources_dir}: run `govdata simulate` first, "
            "or set GOVDATA_SOURCES=live and GOVDATA_PROCEDURES_API_URL"
        )
    with serving(settings.sources_dir, port=0) as url:
        yield settings.model_copy(update={"procedures_api_url": url})


def each_province(settings: Settings) -> Iterator[Settings]:
    """The settings each province's ingestion reads its sources with, one after the other
    (:func:`sources_for` each): the one province of a province's home, each of a national
    home's (whose claim is recorded first)."""
    if settings.is_national:
        settings.claim_home()
    for profile in settings.provinces:
        with sources_for(settings.for_province(profile.code)) as reading:
            yield reading
