"""The images install shared/ and each service non-editably (deploy/Dockerfile): what a wheel
build leaves out is missing in production although every editable-install test passes. So
build the wheels (offline, from a clean copy, as the image build sees the tree) and check each
carries its whole package, SQL and templates included, and its console scripts.

Also: the packages the light images install never pull in pandas, numpy or xlsxwriter, by
their declarations and through uv.lock's dependency graph (what constraints.txt pins)."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser

import pytest

from .conftest import ROOT

# source dir -> (distribution, import package, console scripts the images run)
PACKAGES = {
    "shared": ("offload-shared", "offload_shared", {"offload"}),
    "services/api": ("offload-api", "offload_api", {"offload-api"}),
    "services/email_worker": (
        "offload-email-worker",
        "offload_email_worker",
        {"offload-email-worker"},
    ),
    "services/report_worker": (
        "offload-report-worker",
        "offload_report_worker",
        {"offload-report-worker"},
    ),
    "services/analytics_worker": (
        "offload-analytics-worker",
        "offload_analytics_worker",
        {"offload-analytics-worker"},
    ),
    "services/scheduler": ("offload-scheduler", "offload_scheduler", {"offload-scheduler"}),
}
LIGHT = ["offload-shared", "offload-api", "offload-email-worker", "offload-scheduler"]
HEAVY = {"pandas", "numpy", "xlsxwriter"}
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """{source dir: the wheel pip builds from it}, built once, offline, outside the tree."""
    tmp = tmp_path_factory.mktemp("wheels")
    for src in PACKAGES:
        shutil.copytree(ROOT / src, tmp / "src" / src, ignore=JUNK)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"),
            *("--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(tmp / "out")),
            *(str(tmp / "src" / src) for src in PACKAGES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    built = {}
    for src, (dist, _, _) in PACKAGES.items():
        (wheel,) = (tmp / "out").glob(f"{dist.replace('-', '_')}-*.whl")
        built[src] = wheel
    return built


def dist_info(archive, name):
    (path,) = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
    return archive.read(path).decode()


@pytest.mark.parametrize("src", PACKAGES)
def test_wheel_carries_the_whole_package_tree(wheels, src):
    _, package, _ = PACKAGES[src]
    package_dir = ROOT / src / package
    expected = {
        path.relative_to(ROOT / src).as_posix()
        for path in package_dir.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and not path.name.startswith(".")  # editor and OS droppings
    }
    with zipfile.ZipFile(wheels[src]) as archive:
        missing = expected - set(archive.namelist())
    assert not missing, f"{wheels[src].name} lacks {sorted(missing)}"


def test_the_data_files_are_among_what_is_checked():
    """Guards the test above against passing on an empty or moved tree."""
    shared = ROOT / "shared/offload_shared"
    assert (shared / "queries.sql").is_file()
    assert len(list((shared / "migrations").glob("*.up.sql"))) >= 3
    assert len(list((shared / "email_templates").glob("*.html"))) >= 3
    for src in PACKAGES:
        if src.startswith("services/") and src != "services/api":
            assert (ROOT / src / PACKAGES[src][1] / "queries.sql").is_file()


@pytest.mark.parametrize("src", PACKAGES)
def test_wheel_declares_its_console_scripts(wheels, src):
    _, package, scripts = PACKAGES[src]
    entry_points = configparser.ConfigParser()
    with zipfile.ZipFile(wheels[src]) as archive:
        entry_points.read_string(dist_info(archive, "entry_points.txt"))
    declared = dict(entry_points["console_scripts"])
    assert scripts <= set(declared)
    for script in scripts:
        assert declared[script].startswith(f"{package}."), declared[script]


@pytest.mark.parametrize("src", [s for s, (dist, _, _) in PACKAGES.items() if dist in LIGHT])
def test_light_packages_declare_no_pandas(wheels, src):
    with zipfile.ZipFile(wheels[src]) as archive:
        metadata = Parser().parsestr(dist_info(archive, "METADATA"))
    requires = metadata.get_all("Requires-Dist", [])
    declared = {re.match(r"[\w.-]+", r).group().lower() for r in requires}
    assert "offload-shared" in declared or src == "shared"  # the names were read at all
    assert not declared & HEAVY


def test_light_packages_pull_in_no_pandas_through_the_lock():
    """Everything uv.lock resolves for each light package, extras followed, markers ignored."""
    lock = {p["name"]: p for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}

    def closure(root):
        seen, todo = set(), [(root, ())]
        while todo:
            name, extras = todo.pop()
            package = lock[name]
            edges = list(package.get("dependencies", []))
            for extra in extras:
                edges += package.get("optional-dependencies", {}).get(extra, [])
            new = [(e["name"], tuple(e.get("extra", ()))) for e in edges]
            todo += [edge for edge in new if edge not in seen]
            seen.update(new)
        return {root} | {name for name, _ in seen}

    for dist in LIGHT:
        assert not closure(dist) & HEAVY, dist
    assert {"pandas", "numpy"} <= closure("offload-report-worker")  # the walk sees deps at all
