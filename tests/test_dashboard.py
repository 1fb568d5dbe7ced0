"""The dashboard: the best-architecture note and picture on a study, and optuna-dashboard in a real
(headless) browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import optuna
import pytest

from bonas.dashboard import annotate_best, annotate_storage, serve
from bonas.errors import BonasError
from bonas.storage import artifact_dir, open_storage
from bonas.study import search
from bonas.testing.samplers import hashed_score, tiny_space
from bonas.trials import BEST_PICTURE_ATTR, distributions
from tests.system_packages import CHROMIUM_FLAGS, ensure_package, find_chromium, free_port, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Screenshots of the dashboard land here (results/ is not tracked), for a person to look at.
SCREENSHOTS = REPO_ROOT / "results" / "test_dashboard"


pytestmark = pytest.mark.usefixtures("quiet_optuna")


@pytest.mark.slow  # importing optuna_dashboard imports torch and scikit-learn
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_annotate_best_writes_a_note_and_uploads_the_picture_once_per_best(tmp_path, nb201_benchmark) -> None:
    from optuna_dashboard import get_note

    db = tmp_path / "a.db"
    result = search(nb201_benchmark.space, nb201_benchmark, n_trials=5, seed=0, storage=db, study_name="a")
    study = result.study
    folder = artifact_dir(db)
    best = annotate_best(study, artifacts=folder)
    assert best is not None and best.number == study.best_trial.number
    note = get_note(study)
    assert f"`{result.best_architecture}`" in note and "nb201-cifar10" in note
    uploaded = study._storage.get_study_system_attrs(study._study_id)[BEST_PICTURE_ATTR]
    assert f"![best cell DAG](/artifacts/{study._study_id}/{uploaded['artifact_id']})" in note
    assert (folder / uploaded["artifact_id"]).read_bytes().startswith(PNG_MAGIC)

    annotate_best(study, artifacts=folder)  # same best: no new upload
    assert len(list(folder.iterdir())) == 1
    # A better architecture found later gets its own picture.
    better = max(nb201_benchmark.space.enumerate(), key=lambda a: nb201_benchmark(a)["val_accuracy"])
    study.add_trial(
        optuna.create_trial(
            params=better.param_dict,
            distributions=distributions(nb201_benchmark.space),
            value=nb201_benchmark(better)["val_accuracy"],
            user_attrs={"arch": str(better), "arch_hash": better.canonical_hash},
        )
    )
    assert annotate_best(study, artifacts=folder).user_attrs["arch"] == str(better)
    assert len(list(folder.iterdir())) == 2
    assert f"`{better}`" in get_note(study)


@pytest.mark.slow  # importing optuna_dashboard imports torch and scikit-learn
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_every_study_gets_a_note_and_a_lost_picture_is_uploaded_again(tmp_path, nb201_benchmark) -> None:
    from optuna_dashboard import get_note

    db = tmp_path / "m.db"
    benchmark = nb201_benchmark
    search(benchmark.space, benchmark, sampler="random", n_trials=3, seed=0, storage=db, study_name="best")
    search(benchmark.space, benchmark, sampler="random", n_trials=3, seed=0, storage=db, study_name="pareto",
           objectives={"val_accuracy": "maximize", "latency_pixel3": "minimize"})  # fmt: skip
    search(benchmark.space, benchmark, sampler="random", n_trials=3, seed=0, storage=db, study_name="infeasible",
           constraints={"latency_pixel3": ("<=", 0.001)})  # fmt: skip
    storage = open_storage(db)
    assert annotate_storage(storage, artifacts=tmp_path / "art") == 3  # every note written counts
    infeasible = optuna.load_study(study_name="infeasible", storage=storage)
    assert "No feasible evaluation yet" in get_note(infeasible) and "None of the 3 evaluations" in get_note(
        infeasible
    )

    best = optuna.load_study(study_name="best", storage=storage)
    first = best._storage.get_study_system_attrs(best._study_id)[BEST_PICTURE_ATTR]["artifact_id"]
    # The database copied without its artifact folder: the note's picture is not in the new one.
    assert annotate_storage(storage, artifacts=tmp_path / "copy-art") == 3
    again = best._storage.get_study_system_attrs(best._study_id)[BEST_PICTURE_ATTR]["artifact_id"]
    assert again != first and (tmp_path / "copy-art" / again).read_bytes().startswith(PNG_MAGIC)
    assert f"/artifacts/{best._study_id}/{again})" in get_note(best)


def test_annotate_without_completed_trials_or_pictures(tmp_path) -> None:
    study = optuna.create_study(storage=open_storage(tmp_path / "e.db"), study_name="e")
    assert annotate_best(study, artifacts=tmp_path / "art") is None
    result = search(tiny_space(), hashed_score, n_trials=2, seed=0, storage=tmp_path / "t.db", study_name="t")
    assert annotate_best(result.study, artifacts=tmp_path / "art") is not None  # a note, no picture
    assert not (tmp_path / "art").exists()


def test_dashboard_refuses_a_missing_file(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bonas", "dashboard", str(tmp_path / "nope.db")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "nope.db' does not exist" in result.stderr


@pytest.mark.slow  # importing optuna_dashboard imports torch and scikit-learn
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_the_dashboard_names_a_host_it_cannot_resolve(tmp_path) -> None:
    db = tmp_path / "h.db"
    optuna.create_study(storage=open_storage(db), study_name="h")
    with pytest.raises(BonasError) as raised:
        serve(db, host="256.1.1.1", port=0, annotate=False)
    message = str(raised.value)
    assert message.startswith("Cannot serve the dashboard on host '256.1.1.1': ")
    assert "give an address of this machine with --host" in message and "port" not in message


# -- a real browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    return ensure_package("chromium", find_chromium)


def browse(chromium: str, url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", *extra, url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_dashboard_writes_library_warnings_to_the_log_not_the_terminal(tmp_path, nb201_benchmark) -> None:
    db = tmp_path / "w.db"
    search(
        nb201_benchmark.space,
        nb201_benchmark,
        sampler="random",
        n_trials=2,
        seed=0,
        storage=db,
        study_name="w",
    )
    log = tmp_path / "terminal.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "bonas", "dashboard", str(db), "--port", str(free_port())],
        cwd=REPO_ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: "optuna-dashboard: http://127.0.0.1:" in log.read_text(), 120, "the dashboard")
    finally:
        server.terminate()
        server.wait(timeout=60)
    terminal = log.read_text()
    assert "Warning:" not in terminal and "warnings.warn(" not in terminal, terminal[-2000:]
    warnings_log = artifact_dir(db) / "warnings.log"  # type: ignore[operator]
    assert not warnings_log.exists() or "site-packages" in warnings_log.read_text()


@pytest.mark.slow
def test_the_dashboard_lists_the_trials_and_shows_the_best_cell(tmp_path, chromium, nb201_benchmark) -> None:
    db = tmp_path / "bench.db"
    result = search(
        nb201_benchmark.space,
        nb201_benchmark,
        sampler="regularized-evolution",
        n_trials=12,
        seed=0,
        storage=db,
        study_name="bench",
    )
    best = str(result.best_architecture)
    port = free_port()
    log = tmp_path / "dashboard.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "bonas", "dashboard", str(db), "--port", str(port)],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"}, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: "optuna-dashboard: http://127.0.0.1:" in log.read_text(), 120, "the dashboard")
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/api/studies", timeout=30) as response:
            assert b'"study_name": "bench"' in response.read()

        trials = browse(chromium, f"{base}/dashboard/studies/1/trials", tmp_path / "profile1", "--dump-dom")
        text = visible_text(trials.stdout)
        assert "12 Trials" in text, trials.stderr[-2000:]
        for number in range(12):
            assert f"Trial {number} Complete" in text
        assert "arch_hash" in text and "val_accuracy" in text

        note = browse(chromium, f"{base}/dashboard/studies/1/note", tmp_path / "profile2", "--dump-dom")
        assert f"Best architecture (trial {result.study.best_trial.number})" in visible_text(note.stdout)
        assert best in note.stdout
        image = re.search(r'<img alt="best cell DAG"[^>]*src="(/artifacts/1/[0-9a-f-]+)"', note.stdout)
        assert image is not None
        with urllib.request.urlopen(base + image.group(1), timeout=30) as response:
            assert response.headers["Content-Type"] == "image/png"
            assert response.read().startswith(PNG_MAGIC)

        screenshot = tmp_path / "dashboard-note.png"
        shot = browse(
            chromium, f"{base}/dashboard/studies/1/note", tmp_path / "profile3",
            f"--screenshot={screenshot}", "--window-size=1400,1100", "--hide-scrollbars",
        )  # fmt: skip
        assert screenshot.read_bytes().startswith(PNG_MAGIC), shot.stderr[-2000:]
        listing = tmp_path / "dashboard-trials.png"
        browse(
            chromium, f"{base}/dashboard/studies/1/trials", tmp_path / "profile4",
            f"--screenshot={listing}", "--window-size=1400,1100", "--hide-scrollbars",
        )  # fmt: skip
        assert listing.read_bytes().startswith(PNG_MAGIC)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for picture in (screenshot, listing):
            shutil.copy(picture, SCREENSHOTS / picture.name)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_the_dashboard_plots_the_pareto_front_of_a_constrained_multi_objective_study(
    tmp_path, chromium, nb201_benchmark
) -> None:
    db = tmp_path / "mo.db"
    result = search(
        nb201_benchmark.space,
        nb201_benchmark,
        sampler="random",
        objectives={"val_accuracy": "maximize", "latency_pixel3": "minimize"},
        constraints={"latency_pixel3": ("<=", 12.0)},
        n_trials=16,
        seed=0,
        storage=db,
        study_name="mo",
    )
    feasible = [t for t in result.study.trials if t.user_attrs["latency_pixel3"] <= 12.0]
    assert 0 < len(feasible) < 16, "the bound should split the trials"
    port = free_port()
    log = tmp_path / "dashboard.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "bonas", "dashboard", str(db), "--port", str(port)],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"}, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: "optuna-dashboard: http://127.0.0.1:" in log.read_text(), 120, "the dashboard")
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/api/studies/1?after=0", timeout=30) as response:
            study = json.loads(response.read())
        assert [d for d in study["directions"]] == ["maximize", "minimize"]
        constraints = {t["number"]: t["constraints"] for t in study["trials"]}
        assert all(len(c) == 1 for c in constraints.values())
        assert {n for n, c in constraints.items() if c[0] <= 0} == {t.number for t in feasible}

        page = browse(chromium, f"{base}/dashboard/studies/1", tmp_path / "profile1", "--dump-dom")
        text = visible_text(page.stdout)
        assert "Pareto Front" in text and "Objective X:" in text, page.stderr[-2000:]
        assert "val_accuracy" in text and "latency_pixel3" in text
        assert 'data-unformatted="Infeasible"' in page.stdout  # a plot legend: feasibility is shown

        note = browse(chromium, f"{base}/dashboard/studies/1/note", tmp_path / "profile2", "--dump-dom")
        assert f"Pareto front ({len(result.pareto_front)} architectures)" in visible_text(note.stdout)

        screenshot = tmp_path / "dashboard-pareto-front.png"
        browse(
            chromium, f"{base}/dashboard/studies/1", tmp_path / "profile3",
            f"--screenshot={screenshot}", "--window-size=1400,1100", "--hide-scrollbars",
        )  # fmt: skip
        assert screenshot.read_bytes().startswith(PNG_MAGIC)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, SCREENSHOTS / screenshot.name)
    finally:
        server.terminate()
        server.wait(timeout=30)
