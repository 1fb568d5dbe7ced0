"""optuna-dashboard on a storage, and the best architecture attached to each study for it.

:func:`annotate_best` attaches to a study a Markdown note (optuna-dashboard shows it on the study's
page; see :func:`bonas.reports.best_note`) naming the best architecture, its value and metrics, and,
where an artifact folder is given, a PNG of its cell DAG(s) (:func:`bonas.drawing.draw_architecture`)
uploaded as a study artifact and shown in the note. :func:`serve` refreshes those notes and serves
optuna-dashboard on the storage (loopback by default: the dashboard has no authentication and can edit
studies).
"""

from __future__ import annotations

import logging
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna
from optuna.trial import FrozenTrial

from bonas import trials
from bonas.architecture import Architecture
from bonas.drawing import draw_architecture
from bonas.errors import BonasError
from bonas.reports import best_note, best_trial, infeasible_note, pareto_note
from bonas.storage import StorageSpec, artifact_dir, check_holds_studies, describe, open_storage

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def annotate_best(study: optuna.Study, *, artifacts: str | Path | None = None) -> FrozenTrial | None:
    """Attach the best architecture to the study: a note and, with ``artifacts``, a picture of its DAG.

    The picture is uploaded (to a :class:`optuna.artifacts.FileSystemArtifactStore` in ``artifacts``)
    only when the best trial changed since the last upload, or that upload is missing.

    Args:
        study: a study written by :func:`bonas.search` (trials with ``arch`` user attributes).
        artifacts: folder of the artifact store; None writes the note only.

    A multi-objective study gets a note listing its Pareto set instead (no picture), and a study whose
    evaluations all break its constraints a note saying that no evaluation is feasible yet. The picture
    is uploaded again when the one the note linked is no longer in ``artifacts`` (a database copied
    without its artifact folder).

    Returns:
        The best trial, or None when no trial completed (nothing is written then), none is feasible or
        the study has several objectives.
    """
    return _annotated(study, artifacts)[0]


def _annotated(study: optuna.Study, artifacts: str | Path | None) -> tuple[FrozenTrial | None, bool]:
    """:func:`annotate_best`'s best trial, and whether a note was written (every study with an evaluation
    gets one: the best, the Pareto set, or that no evaluation is feasible yet)."""
    from optuna_dashboard import save_note

    if not any(trials.is_evaluation(t) for t in study.get_trials(deepcopy=False)):
        return None, False
    if len(study.directions) > 1:
        save_note(study, pareto_note(study))
        return None, True
    best = best_trial(study)
    if best is None:  # evaluations, none feasible
        save_note(study, infeasible_note(study))
        return None, True
    picture_url = None
    if artifacts is not None:
        picture_url = _best_picture(study, best, Path(artifacts))
    save_note(study, best_note(study, best, picture_url))
    return best, True


def _best_picture(study: optuna.Study, best: FrozenTrial, folder: Path) -> str | None:
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    storage, study_id = _study_storage(study)
    uploaded = storage.get_study_system_attrs(study_id).get(trials.BEST_PICTURE_ATTR)
    if (
        isinstance(uploaded, dict)
        and uploaded.get("trial") == best.number
        and _is_stored(FileSystemArtifactStore(str(folder)), uploaded.get("artifact_id"))
    ):
        return _artifact_url(study_id, uploaded["artifact_id"])
    # A new best, or its picture is gone (the database was copied without its artifact folder).
    architecture = _parse_best(study, best)
    if architecture is None or not architecture.cells:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        png = draw_architecture(
            architecture,
            Path(scratch) / f"{study.study_name}-best-trial-{best.number}.png",
            title=f"{study.study_name}: trial {best.number}, value {best.value:.6g}",
        )
        artifact_id = upload_artifact(
            artifact_store=FileSystemArtifactStore(str(folder)),
            file_path=str(png),
            study_or_trial=study,
            mimetype="image/png",
        )
    storage.set_study_system_attr(
        study_id, trials.BEST_PICTURE_ATTR, {"trial": best.number, "artifact_id": artifact_id}
    )
    return _artifact_url(study_id, artifact_id)


def _is_stored(store: Any, artifact_id: object) -> bool:
    """Whether the artifact store holds ``artifact_id``."""
    from optuna.artifacts.exceptions import ArtifactNotFound

    if not isinstance(artifact_id, str):
        return False
    try:
        store.open_reader(artifact_id).close()
    except ArtifactNotFound:
        return False
    return True


def _study_storage(study: optuna.Study) -> tuple[optuna.storages.BaseStorage, int]:
    """The study's storage and id, to read and write its system attributes.

    Optuna has no public API for study system attributes (``Study.system_attrs`` and
    ``Study.set_system_attr`` were deprecated in Optuna 3.1 and have since been removed) nor for a
    study's id, which optuna-dashboard's artifact URLs contain; the storage's
    ``get_study_system_attrs`` and ``set_study_system_attr`` are public. This is the one place this
    module reads the study's private ``_storage`` and ``_study_id``.
    """
    return study._storage, study._study_id


def _artifact_url(study_id: int, artifact_id: str) -> str:
    """Where optuna-dashboard serves a study's artifact."""
    return f"/artifacts/{study_id}/{artifact_id}"


def _parse_best(study: optuna.Study, best: FrozenTrial) -> Architecture | None:
    from bonas.spaces import get_space

    space_name = study.user_attrs.get(trials.SPACE_ATTR)
    if space_name is None:
        return None
    try:
        space = get_space(space_name)
    except BonasError as error:  # a user-defined space bonas cannot rebuild by name
        logger.info("No picture for study %r: %s", study.study_name, error)
        return None
    return trials.architecture_of(best, space)


def annotate_storage(storage: optuna.storages.BaseStorage, *, artifacts: str | Path | None) -> int:
    """:func:`annotate_best` on every bonas study of ``storage``; the number of notes written."""
    done = 0
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if not trials.is_bonas_study(summary.user_attrs):
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        try:
            done += _annotated(study, artifacts)[1]
        except Exception as error:  # a picture must never keep the dashboard from starting
            logger.warning("Could not annotate study %r: %s", summary.study_name, error)
    return done


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


def serve(
    storage: StorageSpec,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    artifacts: str | Path | None = None,
    annotate: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve optuna-dashboard on ``storage`` until interrupted.

    Args:
        storage: a storage spec (see :func:`bonas.storage.open_storage`).
        host: address to bind; the default is loopback only (the dashboard has no authentication).
        port: port to bind (0: any free port).
        artifacts: artifact folder (default: beside a file storage, none for a database server).
        annotate: refresh each study's best-architecture note and picture first.
        on_ready: called with the dashboard's URL once it listens.
    """
    check_holds_studies(storage)
    opened = open_storage(storage)
    if opened is None:
        raise BonasError("The dashboard needs a storage; an in-memory study cannot be shown.")
    folder = Path(artifacts) if artifacts is not None else artifact_dir(storage)
    if host not in LOOPBACK_HOSTS:
        logger.warning("Serving on %s: anyone who can reach it can read and edit these studies.", host)
    from optuna.artifacts import FileSystemArtifactStore
    from optuna_dashboard import wsgi

    store = None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        store = FileSystemArtifactStore(str(folder))
    app = wsgi(opened, artifact_store=store)
    try:  # bind first: a port in use must fail before anything is written into the storage
        server = make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    except socket.gaierror as error:  # the host is no address or name this machine resolves
        raise BonasError(
            f"Cannot serve the dashboard on host {host!r}: {error.strerror or error}; give an address of this "
            "machine with --host (127.0.0.1, the default, or 0.0.0.0 for every interface)."
        ) from None
    except OSError as error:
        raise BonasError(
            f"Cannot serve the dashboard on {host}:{port}: {error.strerror or error}; give a free port with "
            "--port (0 picks one)."
        ) from None
    if annotate:
        count = annotate_storage(opened, artifacts=folder)
        logger.info("Wrote the best-architecture note of %d studies.", count)
    bound_host = f"[{host}]" if ":" in host else host
    url = f"http://{bound_host}:{server.server_port}/dashboard/"
    logger.info("optuna-dashboard on %s at %s (Ctrl-C stops it)", describe(storage), url)
    if on_ready is not None:
        on_ready(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
