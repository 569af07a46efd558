"""The province profile: any of the 34 provinces by its code, a clear error for any other, and
no province named by a literal outside the default profile, seeds and tests."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest
import yaml

from core.errors import SettingsError
from core.profile import province_codes, province_profile
from core.settings import REPO_ROOT, Settings


def test_the_34_provinces_in_force_since_the_merger() -> None:
    codes = province_codes()
    assert len(codes) == 34
    assert {"01", "37", "79"} <= set(codes)


def test_a_merged_province_names_the_provinces_it_was_formed_from() -> None:
    ninh_binh = province_profile("37")
    assert ninh_binh.name == "Tỉnh Ninh Bình"
    assert ninh_binh.short_name == "Ninh Bình"
    assert ninh_binh.slug == "ninh-binh"
    assert [code for code, _ in ninh_binh.merged_from] == ["35", "36", "37"]
    assert ninh_binh.was_merged
    assert ninh_binh.agency_code_suffix == "H37"
    assert ninh_binh.dashboard_slug("kpi") == "kpi-ninh-binh"
    hcm = province_profile("79")
    assert hcm.name == "Thành phố Hồ Chí Minh"
    assert hcm.unit_type == "Thành phố"
    assert hcm.committee == "Ủy ban nhân dân thành phố Hồ Chí Minh"
    assert {name for _, name in hcm.merged_from} == {
        "Tỉnh Bình Dương", "Tỉnh Bà Rịa - Vũng Tàu", "Thành phố Hồ Chí Minh"
    }  # fmt: skip


def test_a_province_that_was_not_merged() -> None:
    hanoi = province_profile("01")
    assert hanoi.merged_from == (("01", "Thành phố Hà Nội"),)
    assert not hanoi.was_merged
    assert hanoi.portal_title == "Cổng dữ liệu mở thành phố Hà Nội"
    assert hanoi.slug == "ha-noi"


def test_a_pre_merger_code_names_the_province_it_became() -> None:
    with pytest.raises(SettingsError, match=r"35 \(Tỉnh Hà Nam\).*part of 37 \(Tỉnh Ninh Bình\)"):
        province_profile("35")


@pytest.mark.parametrize("code", ["99", "00", "AB", ""])
def test_an_unknown_code_names_the_valid_ones(code: str) -> None:
    with pytest.raises(SettingsError, match=r"01 Hà Nội.*37 Ninh Bình.*96 Cà Mau"):
        province_profile(code)


def test_settings_take_the_portal_names_from_the_profile() -> None:
    settings = Settings(province_code="79")
    assert settings.ckan_organization == "ho-chi-minh"
    assert settings.ckan_site_title == "Cổng dữ liệu mở thành phố Hồ Chí Minh"
    assert settings.ckan_organization_title == "Ủy ban nhân dân thành phố Hồ Chí Minh"
    chosen = Settings(province_code="79", ckan_organization="hcmc-opendata")
    assert chosen.ckan_organization == "hcmc-opendata"  # a setting wins over the profile


def test_placeholders_are_filled_and_an_unknown_one_is_an_error() -> None:
    profile = province_profile("01")
    text = "title: ${province_short_name} — {{ jinja }} $1 ${other}"
    assert profile.render(text) == "title: Hà Nội — {{ jinja }} $1 ${other}"
    with pytest.raises(SettingsError, match=r"x.yaml: unknown placeholder \$\{province_nme\}"):
        profile.render("${province_nme}", "x.yaml")


def test_every_template_of_the_repository_renders(tmp_path: Path) -> None:
    templated = [
        *sorted((REPO_ROOT / "superset_assets").rglob("*.yaml")),
        *sorted((REPO_ROOT / "dbt_project" / "models").rglob("*exposures.yml")),
    ]
    assert templated
    for code in ("01", "37", "79"):
        profile = province_profile(code)
        for path in templated:
            assert "${province_" not in profile.render(path.read_text(encoding="utf-8"), str(path))


def test_a_home_holds_one_province(tmp_path: Path) -> None:
    Settings(home=tmp_path, province_code="37").claim_home()
    Settings(home=tmp_path, province_code="37").claim_home()  # the same: fine
    with pytest.raises(SettingsError, match="holds the data of province 37, not 01"):
        Settings(home=tmp_path, province_code="01").claim_home()


# Outside these, the demo province is never named by a literal: it comes from the profile.
ALLOWED = ("tests/", "dbt_project/seeds/", "core/profile.py")
PROVINCE_LITERAL = re.compile(r"ninh[\s_-]*b[iì]nh", re.IGNORECASE)


def test_no_province_is_named_by_a_literal() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for name in tracked:
        path = REPO_ROOT / name
        if name.startswith(ALLOWED) or name.endswith(".md") or not path.is_file():
            continue
        try:
            text = unicodedata.normalize("NFC", path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            continue
        in_unit_tests = False
        for number, line in enumerate(text.splitlines(), 1):
            # dbt's unit tests (given/expect rows in a model's yml) are tests too.
            if name.endswith(".yml") and re.match(r"^\S", line):
                in_unit_tests = line.startswith("unit_tests:")
            if PROVINCE_LITERAL.search(line) and not in_unit_tests:
                offenders.append(f"{name}:{number}: {line.strip()[:80]}")
    assert not offenders, "\n".join(offenders)


def test_every_dashboard_exposure_points_at_a_real_dashboard() -> None:
    profile = province_profile("79")
    slugs = {
        yaml.safe_load(profile.render(path.read_text(encoding="utf-8")))["slug"]
        for path in (REPO_ROOT / "superset_assets" / "dashboards").glob("*.yaml")
    }
    urls = [
        exposure["url"]
        for path in (REPO_ROOT / "dbt_project" / "models").rglob("*.yml")
        for exposure in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(
            "exposures", []
        )
        if exposure.get("type") == "dashboard"
    ]
    assert urls
    for url in urls:
        slug = profile.render(url).strip("/").rsplit("/", 1)[-1]
        assert slug in slugs, f"exposure url {url} names no dashboard of superset_assets/"


def test_a_national_home_holds_its_provinces_and_lets_each_of_them_write(tmp_path: Path) -> None:
    national = Settings(home=tmp_path, province_code="79, 1,37")
    assert national.province_code == "01,37,79" and national.is_national
    assert [p.short_name for p in national.provinces] == ["Hà Nội", "Ninh Bình", "Hồ Chí Minh"]
    national.claim_home()
    hanoi = national.for_province("1")
    assert (hanoi.province_code, hanoi.profile.short_name) == ("01", "Hà Nội")
    assert hanoi.sources_dir == tmp_path / "sources" / "01"
    assert hanoi.ckan_site_title == hanoi.profile.portal_title
    hanoi.claim_home()  # one of the provinces: it writes in the national home
    with pytest.raises(SettingsError, match="holds the data of provinces 01,37,79, not 46"):
        Settings(home=tmp_path, province_code="46").claim_home()
    with pytest.raises(SettingsError, match="not among this home's"):
        national.for_province("46")
    with pytest.raises(SettingsError, match="no single province profile"):
        _ = national.profile
    assert len(Settings(home=tmp_path, province_code="all").provinces) == 34
    with pytest.raises(SettingsError, match=r"no longer exists.*set GOVDATA_PROVINCE_CODE=37"):
        Settings(home=tmp_path, province_code="01,35")
    # A province's own home keeps its sources where they always were.
    assert Settings(home=tmp_path, province_code="37").sources_dir == tmp_path / "sources"
