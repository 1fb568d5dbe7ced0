"""The ``bonas`` command: ``search``, ``worker``, ``dashboard`` and ``show``.

``bonas search`` runs a search in a stored study (``results/bonas.db`` unless ``--storage`` says
otherwise) and continues it when run again; ``bonas worker`` is one of several processes (on one or
several machines) sharing a study, each spending its own ``--n-trials`` share; ``bonas dashboard``
serves optuna-dashboard on a storage; ``bonas show`` prints its studies and their best architectures.
Ctrl-C (or SIGTERM) stops a search cleanly: the running trial is failed with the reason
``interrupted``, everything completed stays stored, and the same command continues the study.

(About 560 lines, one concept: the command line. The four commands share their option parsers and the
one place that turns a user's error into a message and exit status 2, so they stay in one module.)
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bonas.errors import ArgumentTypeError, BonasError, unknown_name

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("bonas.cli")

#: Where ``bonas search`` stores its study when no ``--storage`` is given.
DEFAULT_STORAGE = "results/bonas.db"
#: What a search optimises when neither --metric/--direction nor --objective METRIC:max|min says.
DEFAULT_METRIC = "val_accuracy"
DEFAULT_DIRECTION = "maximize"
INTERRUPTED_EXIT_CODE = 130
#: What a shell reports for a command stopped by SIGPIPE (128 + 13).
BROKEN_PIPE_EXIT_CODE = 141


class CommandLineError(BonasError, ValueError):
    """A command-line value bonas cannot use (the message quotes it and says what would work)."""


@dataclass
class NamedObjective:
    """A user objective loaded from ``module:function``; ``name`` is what the study records."""

    function: Callable[..., Any]
    name: str

    def __call__(self, architecture: Any) -> Any:
        return self.function(architecture)

    @property
    def cheap_metrics(self) -> Callable[..., Any] | None:
        """The function's metrics known without evaluating, if it declares them (see :func:`bonas.search`)."""
        return getattr(self.function, "cheap_metrics", None)

    @property
    def metric_names(self) -> Any:
        return getattr(self.function, "metric_names", None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bonas`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        status = int(args.run(args) or 0)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return status
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT_CODE
    except BrokenPipeError:
        # Whoever read the output stopped (``bonas show results/bonas.db | head``): end quietly, as
        # command-line tools in a pipeline do, with what was printed so far.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_EXIT_CODE
    except (BonasError, *_storage_errors()) as error:
        print(f"bonas {args.command}: error: {error}", file=sys.stderr)
        return 2


# -- parser ---------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bonas", description="Neural architecture search on Optuna studies (see README.md)."
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log every trial (Optuna's INFO) and bonas's details, such as the traceback of an objective's error",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    search = commands.add_parser(
        "search",
        help="run (or continue) a search in a stored study",
        description="Run a search in a stored study; the same command continues it after a stop.",
    )
    _search_arguments(search, worker=False)
    search.set_defaults(run=_run_search)

    worker = commands.add_parser(
        "worker",
        help="one of several processes sharing a study",
        description=(
            "One worker of a distributed search: start several (on one machine or many) with the same "
            "--storage and --study; each spends its own --n-trials share of queries (failed runs "
            "included), so the study ends with the sum of the shares. Proposals see every other worker's running trials as pending."
        ),
    )
    _search_arguments(worker, worker=True)
    worker.set_defaults(run=_run_search)

    dashboard = commands.add_parser(
        "dashboard",
        help="serve optuna-dashboard on a storage",
        description=(
            "Serve optuna-dashboard on STORAGE, after writing each study's best architecture (note and "
            "DAG picture) into it. Binds to loopback unless --host says otherwise."
        ),
    )
    dashboard.add_argument("storage", metavar="STORAGE", help="SQLite file, database URL or journal:<file>")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    dashboard.add_argument(
        "--port", type=int, default=8080, help="port, 0 for any free one (default: %(default)s)"
    )
    dashboard.add_argument(
        "--artifact-dir", help="folder for pictures (default: beside a file storage; none for a server)"
    )
    dashboard.add_argument(
        "--no-annotate", action="store_true", help="do not refresh best-architecture notes"
    )
    dashboard.set_defaults(run=_run_dashboard)

    show = commands.add_parser(
        "show",
        help="print the studies of a storage and their best architectures",
        description="Print every study of STORAGE, or the best evaluations of one (--study).",
    )
    show.add_argument("storage", metavar="STORAGE", help="SQLite file, database URL or journal:<file>")
    show.add_argument("--study", help="print the best evaluations of this study")
    show.add_argument(
        "--top", type=_positive_int, default=10, help="evaluations to list (default: %(default)s)"
    )
    show.set_defaults(run=_run_show)
    return parser


def _search_arguments(parser: argparse.ArgumentParser, *, worker: bool) -> None:
    parser.add_argument("--benchmark", help="tabular benchmark to search (bonas.tabular.benchmark_names())")
    parser.add_argument(
        "--objective",
        action="append",
        default=[],
        metavar="METRIC:max|min or MODULE:FUNCTION",
        help="repeatable: a metric to optimise with its direction (e.g. --objective val_accuracy:max "
        "--objective latency_pixel3:min; several make a multi-objective search), or, once, your objective "
        "function: a callable taking an Architecture, returning a number or a dict of metrics",
    )
    parser.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="METRIC<=BOUND",
        help='repeatable: a bound on a metric the objective returns, e.g. --constraint "latency_pixel3<=12"',
    )
    parser.add_argument("--space", help="search space of --objective (default: the objective's .space)")
    parser.add_argument(
        "--searcher", default="auto", help="searcher name (default: %(default)s, bonas's best for the space)"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="searcher option, repeatable (e.g. --option n_initial=6; values are read as JSON when they parse)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1,
        help="architectures the searcher proposes jointly before it sees their values (bonas searchers; "
        "default: 1)",
    )
    parser.add_argument(
        "--n-trials",
        type=_positive_int,
        help="queries this process spends (runs of the objective, failed ones included)"
        + (
            " (this worker's share; or give --total-trials)"
            if worker
            else " (default: --total-trials, else 100)"
        ),
    )
    parser.add_argument(
        "--total-trials",
        type=_positive_int,
        help="start no trial once the study's evaluations and running trials make this many, earlier runs and "
        "other workers included",
    )
    parser.add_argument(
        "--storage",
        required=worker,
        default=None if worker else DEFAULT_STORAGE,
        help="SQLite file, SQLAlchemy URL (postgresql://user@host/db) or journal:<file>"
        + ("" if worker else " (default: %(default)s)"),
    )
    parser.add_argument(
        "--study",
        required=worker,
        help="study name"
        + (
            ""
            if worker
            else " (default: <benchmark or objective>-<searcher>, then the searched metrics unless it is "
            "val_accuracy alone, and -constrained with constraints; directions and constraint bounds are not "
            "part of it)"
        ),
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=None if worker else 0,
        help="searcher seed" + ("" if worker else " (default: 0)"),
    )
    parser.add_argument(
        "--metric",
        help=f"metric to optimise (default: {DEFAULT_METRIC}; or give --objective METRIC:max|min instead)",
    )
    parser.add_argument(
        "--direction",
        choices=("maximize", "minimize"),
        help=f"direction of --metric (default: {DEFAULT_DIRECTION})",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=_positive_int,
        default=30,
        help="seconds between heartbeats (default: 30)",
    )
    parser.add_argument(
        "--grace-period",
        type=_positive_int,
        default=120,
        help="seconds without a heartbeat before a trial is failed and retried (default: 120)",
    )
    parser.add_argument(
        "--max-consecutive-failures",
        type=whole_number(0),
        help="stop after this many failed trials in a row (default: bonas.search's, 10; 0: no limit)",
    )
    parser.add_argument("--data-dir", help="benchmark data folder (default: $BONAS_DATA_DIR or data/)")
    if worker:
        parser.add_argument(
            "--annotate",
            action="store_true",
            help="write the best-architecture note and picture at the end (bonas dashboard does it anyway)",
        )
    else:
        parser.add_argument(
            "--no-annotate",
            dest="annotate",
            action="store_false",
            help="skip the best-architecture note and picture at the end (bonas dashboard writes them)",
        )
    parser.add_argument("--progress", action="store_true", help="show a progress bar")


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``, the bad text quoted otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        return value

    return parse


_seed = whole_number(0)
_positive_int = whole_number(1)


# -- commands -------------------------------------------------------------------------------------------


def _run_search(args: argparse.Namespace) -> int:
    """``bonas search`` and ``bonas worker`` (see :func:`_library_warnings_beside`)."""
    from bonas.samplers import sampler_names

    if args.searcher not in sampler_names():
        raise unknown_name("searcher", args.searcher, sampler_names())
    if args.study is not None and not args.study.strip():
        raise CommandLineError(
            f"--study needs a name, got {args.study!r}; leave it out for the default name."
        )
    _split_objectives(args)
    if args.command == "worker" and args.n_trials is None and args.total_trials is None:
        raise CommandLineError(
            "give a worker its share with --n-trials N, or --total-trials T to stop once the study holds T."
        )
    with _library_warnings_beside(args.storage):
        return _search(args)


@contextmanager
def _library_warnings_beside(storage: str | None) -> Iterator[None]:
    """With a file storage, installed libraries' warnings go to ``warnings.log`` in the storage's artifact
    folder, counted in one line at the end (see :mod:`bonas.library_warnings`); otherwise nothing changes."""
    from bonas.library_warnings import library_warnings_to
    from bonas.storage import artifact_dir, check_storage_file

    try:
        check_storage_file(storage)  # a refused file gets no warning folder beside it
        folder = artifact_dir(storage)
    except (OSError, RuntimeError, TypeError, ValueError):  # a bad storage: the command reports it
        folder = None
    if folder is None:
        yield
        return
    with library_warnings_to(folder / "warnings.log") as library:
        try:
            yield
        finally:
            if (line := library.summary()) is not None:
                logger.info(line)


def _search(args: argparse.Namespace) -> int:
    import optuna

    from bonas.reports import studies_table
    from bonas.storage import artifact_dir, describe, open_storage
    from bonas.study import search
    from bonas.trials import evaluation_rows

    space, objective, objective_name = _load_objective(args)
    sampler = _make_sampler(args, space, objective)
    study_name = args.study or _default_study_name(args, objective_name)
    n_trials = args.n_trials or args.total_trials or 100
    storage = open_storage(
        args.storage, heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period
    )
    where = describe(args.storage)
    if args.study is None:
        _point_to_a_study_under_the_old_default_name(args, storage, study_name, objective_name)
    held_before = _evaluations_held(storage, study_name)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = search(
            space,
            objective,
            sampler=sampler,
            n_trials=n_trials,
            total_trials=args.total_trials,
            storage=storage,
            study_name=study_name,
            seed=args.seed,
            metric=args.metric,
            direction=args.direction,
            objectives=args.objectives,
            constraints=args.constraints,
            show_progress=args.progress,
            **(
                {}
                if args.max_consecutive_failures is None
                else {"max_consecutive_failures": args.max_consecutive_failures or None}
            ),
        )
    except KeyboardInterrupt:
        summary = studies_table(storage).set_index("study")
        if study_name not in summary.index:
            logger.warning("Interrupted before study %r was created in %s.", study_name, where)
            raise
        row = summary.loc[study_name]
        held = int(row["evaluations"])
        if args.total_trials is not None:
            how = f"the same command continues it to {args.total_trials} evaluations"
        else:
            # What this command set out to end at: the evaluations held when it started, and n more.
            planned = held_before + n_trials
            how = (
                f"the same command continues it with {n_trials} more; to end at {planned} in all, add "
                f"--total-trials {planned} instead of --n-trials"
            )
        logger.warning(
            "Interrupted: study %r in %s holds %d evaluation%s (best %s); %s.",
            study_name,
            where,
            held,
            "" if held == 1 else "s",
            row["best_arch"],
            how,
        )
        if args.annotate:
            _annotate(optuna.load_study(study_name=study_name, storage=storage), artifact_dir(args.storage))
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.annotate:
        _annotate(result.study, artifact_dir(args.storage))
    history = result.history
    evaluations = len(evaluation_rows(history))
    print(f"study {study_name!r} in {where}: {evaluations} evaluations")
    if len(result.study.directions) > 1:
        import pandas as pd

        from bonas.reports import pareto_table

        front = pareto_table(result.study)
        names = ["trial", "arch", *(name for name in (args.objectives or {}))]
        if front.empty:
            print("no Pareto front: no evaluation satisfies the constraints (see bonas show)")
        else:
            print(f"Pareto front: {len(front)} architectures")
            with pd.option_context("display.width", 200, "display.max_colwidth", 90):
                print(front[[c for c in names if c in front.columns]].to_string(index=False))
    elif result.best_architecture is None:
        print("no evaluation satisfies the constraints (see bonas show)")
    else:
        metric = next(iter(args.objectives)) if args.objectives else args.metric
        print(f"best {metric}: {result.best_value:.6g}")
        print(f"best architecture: {result.best_architecture}")
    return 0


def _evaluations_held(storage: Any, study_name: str) -> int:
    """The evaluations study ``study_name`` holds (0 before it exists)."""
    import optuna

    from bonas.trials import evaluations

    if study_name not in optuna.get_all_study_names(storage=storage):
        return 0
    study = optuna.load_study(study_name=study_name, storage=storage)
    return len(evaluations(study.get_trials(deepcopy=False)))


def _split_objectives(args: argparse.Namespace) -> None:
    """Sort ``--objective`` values into metric objectives (``METRIC:max|min``) and the objective function
    (``MODULE:FUNCTION``, at most one), and parse ``--constraint`` values."""
    from bonas.search_inputs import DIRECTIONS, parse_constraint, parse_objective

    metrics, functions = [], []
    for text in args.objective:
        (metrics if text.rpartition(":")[2] in DIRECTIONS else functions).append(text)
    if len(functions) > 1:
        raise CommandLineError(
            f"--objective names one function (MODULE:FUNCTION), got {functions}; metrics to optimise read "
            "METRIC:max or METRIC:min."
        )
    if args.benchmark is not None and functions:
        raise CommandLineError(
            f"--objective {functions[0]!r}: with --benchmark, --objective names a metric to optimise and must "
            "read METRIC:max or METRIC:min (e.g. val_accuracy:max)."
        )
    if args.benchmark is None and not functions:
        raise CommandLineError(
            "give either --benchmark NAME or --objective MODULE:FUNCTION (your objective function); "
            "--objective METRIC:max|min only says what to optimise."
        )
    args.function = functions[0] if functions else None
    parsed = dict(parse_objective(text) for text in metrics)
    if len(parsed) < len(metrics):
        raise CommandLineError(f"--objective names a metric twice: {metrics}.")
    args.objectives = parsed or None
    given = [
        f"--{name} {value}"
        for name, value in (("metric", args.metric), ("direction", args.direction))
        if value
    ]
    if args.objectives and given:
        raise CommandLineError(
            f"{' and '.join(given)} with --objective {' --objective '.join(metrics)}: both say what to optimise. "
            "Give each searched metric with its direction as --objective METRIC:max|min, without --metric or "
            "--direction."
        )
    args.metric = args.metric or DEFAULT_METRIC
    args.direction = args.direction or DEFAULT_DIRECTION
    constraints = dict(parse_constraint(text) for text in args.constraint)
    if len(constraints) < len(args.constraint):
        raise CommandLineError(
            f"--constraint bounds a metric twice: {args.constraint}; give one bound per metric."
        )
    args.constraints = constraints or None


def _run_dashboard(args: argparse.Namespace) -> int:
    from bonas.dashboard import serve
    from bonas.storage import check_holds_studies

    if not 0 <= args.port <= 65535:
        raise CommandLineError(f"--port {args.port} is not a port number (0-65535).")
    check_holds_studies(args.storage)  # before anything (a warnings log) is written beside it

    def ready(url: str) -> None:
        print(f"optuna-dashboard: {url}", flush=True)

    with _library_warnings_beside(args.storage):
        serve(
            args.storage,
            host=args.host,
            port=args.port,
            artifacts=args.artifact_dir,
            annotate=not args.no_annotate,
            on_ready=ready,
        )
    return 0


def _run_show(args: argparse.Namespace) -> int:
    import optuna
    import pandas as pd

    from bonas.reports import pareto_table, studies_table, top_trials
    from bonas.storage import check_holds_studies, describe, open_storage

    check_holds_studies(args.storage)
    storage = open_storage(args.storage)
    table = studies_table(storage)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 90):
        if args.study is None:
            if table.empty:
                print(f"No study in {describe(args.storage)}.")
            else:
                print(_printable(table).to_string(index=False))
            return 0
        if args.study not in set(table["study"]):
            names = ", ".join(repr(n) for n in table["study"]) or "none"
            raise CommandLineError(
                f"No study {args.study!r} in {describe(args.storage)}; its studies: {names}."
            )
        study = optuna.load_study(study_name=args.study, storage=storage)
        print(_printable(table[table["study"] == args.study]).to_string(index=False))
        print()
        if len(study.directions) > 1:
            front = pareto_table(study)
            if front.empty:
                print("No Pareto front yet.")
                return 0
            shown = "" if len(front) <= args.top else f"; the first {args.top} shown, --top N for more"
            print(f"Pareto front ({len(front)} architectures{shown}):")
            print(front.head(args.top).to_string(index=False))
            return 0
        top = top_trials(study, args.top)
        print(top.to_string(index=False) if not top.empty else "No completed evaluation yet.")
    return 0


# -- helpers --------------------------------------------------------------------------------------------


def _printable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with "-" where a study has no value (no Pareto front, no best trial yet)."""
    return frame.astype(object).where(frame.notna(), "-")


def _load_objective(args: argparse.Namespace) -> tuple[Any, Callable[..., Any], str]:
    """(space, objective, name) from --benchmark or --objective/--space."""
    from bonas.spaces import get_space

    if args.benchmark is not None:
        from bonas.tabular import load_benchmark

        benchmark = load_benchmark(args.benchmark, data_dir=args.data_dir)
        space = get_space(args.space) if args.space else benchmark.space
        return space, benchmark, args.benchmark
    function = load_callable(args.function)
    if args.space:
        space = get_space(args.space)
    elif getattr(function, "space", None) is not None:
        space = function.space
    else:
        raise CommandLineError(
            f"--objective {args.function!r} has no .space attribute; name its search space with --space "
            "(nb201, darts, nbgraph, nbgraph-proteins, mlp)."
        )
    return space, NamedObjective(function, getattr(function, "name", args.function)), args.function


def _default_study_name(args: argparse.Namespace, objective_name: str) -> str:
    """``<benchmark or objective>-<searcher>``, then the searched metrics unless the search is the
    default (``val_accuracy`` alone), and ``-constrained`` with constraints: searches of different
    outcomes in one storage do not meet under one name, where the second would be refused."""
    metrics = list(args.objectives) if args.objectives else [args.metric]
    parts = [objective_name, args.searcher]
    if metrics != [DEFAULT_METRIC]:
        parts += metrics
    if args.constraints:
        parts.append("constrained")
    return "-".join(parts)


def _point_to_a_study_under_the_old_default_name(
    args: argparse.Namespace, storage: Any, study_name: str, objective_name: str
) -> None:
    """Warn when this search's default study is new but the storage holds one under the default name of
    earlier bonas versions (``<benchmark or objective>-<searcher>`` for every search): the same command made that
    one, and ``--study`` continues it."""
    import optuna

    old = f"{objective_name}-{args.searcher}"
    if old == study_name:
        return
    names = set(optuna.get_all_study_names(storage=storage))
    if old not in names or study_name in names:
        return
    from bonas.search_inputs import check_outcomes
    from bonas.trials import StudyAttributes

    # Only a study this command would continue: one of other metrics or constraints would be refused.
    stored = StudyAttributes.of(optuna.load_study(study_name=old, storage=storage))
    asked = check_outcomes(args.objectives, args.constraints, args.metric, args.direction)
    if stored.metrics == asked.metrics and stored.constraints == asked.constraints:
        logger.warning(
            "Starting study %r. This storage also holds %r, the name earlier bonas versions gave this command's study "
            "(the default now names the searched metrics); to continue that one instead, add --study %s.",
            study_name,
            old,
            old,
        )


def _make_sampler(args: argparse.Namespace, space: Any, objective: Any) -> Any:
    """The searcher as :func:`bonas.search` would build it from its name: ``auto`` picks the
    multi-objective BO for several objectives or constraints, and a searcher that can use the
    objective's cheap metrics (a benchmark's latencies) gets them."""
    from bonas.search_inputs import (
        SamplerMismatchError,
        check_known_metrics,
        check_outcomes,
        resolved_sampler,
    )

    outcomes = check_outcomes(args.objectives, args.constraints, args.metric, args.direction)
    check_known_metrics(objective, outcomes)
    options: dict[str, Any] = {}
    for item in args.option:
        key, equals, text = item.partition("=")
        if not equals or not key.isidentifier():
            raise CommandLineError(f"--option {item!r} must read KEY=VALUE, e.g. --option n_initial=6.")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    if args.batch_size != 1:
        options["batch_size"] = args.batch_size
    try:
        sampler, _ = resolved_sampler(
            args.searcher,
            space,
            args.seed,
            None,
            None,
            outcomes=outcomes,
            objective=objective,
            options=options,
        )
        return sampler
    except SamplerMismatchError:
        raise  # its message names the searcher
    except (ValueError, ArgumentTypeError) as error:
        raise CommandLineError(f"Searcher {args.searcher!r}: {error}") from None
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            raise CommandLineError(
                f"Searcher {args.searcher!r} does not take options {sorted(options)}: {error}"
            ) from None
        given = ", ".join(f"{key}={value!r}" for key, value in options.items())
        raise CommandLineError(
            f"Searcher {args.searcher!r} cannot use the option values {given}: {error}; give each the type "
            "the searcher expects (e.g. a whole number)."
        ) from None


def load_callable(spec: str) -> Callable[..., Any]:
    """The callable named ``module:attribute`` (the current folder is importable, as with ``python -m``).

    Raises:
        CommandLineError: the spec is malformed, the module cannot be imported or has no such callable.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandLineError(
            f"--objective {spec!r} must read MODULE:FUNCTION, e.g. my_project.train:evaluate."
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CommandLineError(
            f"--objective {spec!r}: cannot import module {module_name!r}: {error}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise CommandLineError(f"--objective {spec!r}: module {module_name!r} has no {attribute!r}.")
        target = getattr(target, part)
    if not callable(target):
        raise CommandLineError(f"--objective {spec!r} names a {type(target).__name__}, not a callable.")
    return target


def _annotate(study: Any, folder: Path | None) -> None:
    # optuna-dashboard imports torch and scikit-learn (seconds): only when a note is written.
    from bonas.dashboard import annotate_best

    try:
        annotate_best(study, artifacts=folder)
    except Exception as error:  # the picture is a convenience: the search itself is stored
        logger.warning("Could not write the best-architecture note: %s", error)


def _interrupt(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt


def _storage_errors() -> tuple[type[BaseException], ...]:
    """Errors of a storage that cannot be reached or read, reported without a traceback."""
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:  # pragma: no cover - SQLAlchemy comes with Optuna
        return (OSError,)
    return (SQLAlchemyError, OSError)


def _configure_logging(verbose: bool) -> None:
    import optuna

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    # -v: bonas's details too, among them the traceback of every exception an objective raises.
    if verbose:
        logging.getLogger("bonas").setLevel(logging.DEBUG)


if __name__ == "__main__":
    sys.exit(main())
