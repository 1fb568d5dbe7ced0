"""Retraining a search's best candidates stand-alone, in the same study as their cheap scores.

A weight-sharing search ranks many candidates by inherited weights; what the user deploys is a network
trained on its own. :func:`retrain_best` takes the ``top_k`` best lower-fidelity evaluations of a
study, trains each with a stand-alone objective (:func:`bonas.objectives.train`) and adds the results
to the study as trials marked ``fidelity=stand-alone`` (with ``retrain_of`` naming the scored trial).
The study then holds both kinds: its best architecture is the best stand-alone one (see
:func:`bonas.trials.best_evaluation`), and a search continued on it models both through
:meth:`bonas.history.SearchHistory.at_one_fidelity`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping

import optuna
from optuna.trial import TrialState, create_trial

from bonas import trials
from bonas.architecture import Architecture
from bonas.errors import BonasError, InvalidArgumentError, SetupError
from bonas.search_inputs import ObjectiveError
from bonas.search_inputs import metrics as objective_metrics
from bonas.spaces.base import SearchSpace
from bonas.study import SearchResult, result_of

logger = logging.getLogger(__name__)


def retrain_best(
    result: SearchResult | optuna.Study,
    space: SearchSpace,
    objective: Callable[[Architecture], float | Mapping[str, float]],
    *,
    top_k: int = 3,
    metric: str | None = None,
    fidelity: str = trials.STAND_ALONE,
) -> SearchResult:
    """Train the ``top_k`` best lower-fidelity candidates of a study with ``objective`` and add them.

    Candidates are the evaluations whose fidelity ranks below ``fidelity`` (weight-sharing scores),
    best first by the study's direction, one per architecture (isomorphs count once), skipping those
    already retrained. Each result becomes a COMPLETE trial (FAIL with its reason if ``objective``
    raised) with ``fidelity``, ``retrain_of`` and every metric the objective returned.

    Args:
        result: a :class:`SearchResult` or its study.
        space: the study's space.
        objective: a stand-alone objective (such as :func:`bonas.objectives.train`).
        top_k: candidates to retrain.
        metric: the objective's searched metric (None: the study's).
        fidelity: the fidelity the retrainings are recorded at (one of :data:`bonas.trials.FIDELITIES`).

    Returns:
        The study's :class:`SearchResult` afterwards: its best architecture is the best at the highest
        fidelity held.

    Raises:
        BonasError: the study holds no lower-fidelity evaluation to retrain.
        ValueError: ``top_k`` is not a positive integer, ``fidelity`` is not a known one, ``metric``
            is not the study's, or ``objective`` is a weight-sharing one.
        SetupError: the objective's set-up failed (a missing data file); the retrainings before it stay.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
    if fidelity not in trials.FIDELITIES:
        raise InvalidArgumentError(
            f"fidelity must be one of {', '.join(map(repr, trials.FIDELITIES))}, got {fidelity!r}."
        )
    from bonas.objectives import WeightSharingObjective

    if isinstance(objective, WeightSharingObjective):
        raise InvalidArgumentError(
            "retrain_best trains the candidates stand-alone, and the objective given scores them on a "
            "supernet (weight_sharing): its values would be recorded as stand-alone trainings. Give a "
            "stand-alone objective such as bonas.objectives.train(...)."
        )
    study = result.study if isinstance(result, SearchResult) else result
    if len(study.directions) > 1:
        raise BonasError(
            f"Study {study.study_name!r} searches {len(study.directions)} objectives; retrain_best takes a "
            "single-objective study. Retrain the members of result.pareto_front you want with your "
            "stand-alone objective instead."
        )
    searched = trials.StudyAttributes.of(study).metric or "val_accuracy"
    if metric is None:
        metric = searched
    elif metric != searched:
        raise InvalidArgumentError(
            f"metric {metric!r} is not the study's metric {searched!r}: the retrained values would rank "
            f"against another metric's scores. Leave metric out (the study's is used) or return {searched!r}."
        )
    constraints = trials.StudyAttributes.of(study).constraints
    done = trials.evaluations(study.get_trials(deepcopy=False))
    rank = trials.fidelity_rank(fidelity)
    retrained = {
        str(t.user_attrs.get(trials.ARCH_HASH_ATTR))
        for t in done
        if trials.fidelity_rank(trials.fidelity_of(t)) >= rank
    }
    scored = [t for t in done if trials.fidelity_rank(trials.fidelity_of(t)) < rank]
    if not scored:
        raise BonasError(
            f"Study {study.study_name!r} holds no evaluation below fidelity {fidelity!r} to retrain; run a "
            "weight-sharing search first (bonas.objectives.weight_sharing)."
        )
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
    chosen: list[tuple[optuna.trial.FrozenTrial, Architecture]] = []
    seen: set[str] = set(retrained)
    # Feasible candidates first (with constraints), then by value.
    ranked = sorted(scored, key=lambda t: (not trials.is_feasible(t), -sign * float(t.value), t.number))  # type: ignore[arg-type]
    for trial in ranked:
        architecture = trials.architecture_of(trial, space)
        if architecture is None or architecture.canonical_hash in seen:
            continue
        seen.add(architecture.canonical_hash)
        chosen.append((trial, architecture))
        if len(chosen) == top_k:
            break
    if len(chosen) < top_k:
        logger.info(
            "Retraining %d candidates: all that study %r holds not yet retrained.",
            len(chosen),
            study.study_name,
        )
    distributions = trials.distributions(space)
    for source, architecture in chosen:
        attrs = {
            trials.ARCH_ATTR: str(architecture),
            trials.ARCH_HASH_ATTR: architecture.canonical_hash,
            trials.FIDELITY_ATTR: fidelity,
            trials.RETRAIN_OF_ATTR: source.number,
        }
        params = space.to_params(architecture)
        used = {name: distributions[name] for name in params}
        started = time.perf_counter()
        try:
            value, values = objective_metrics(objective(architecture), metric)
        except SetupError:
            raise  # every retraining would fail alike; nothing was trained
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            logger.warning("Retraining %s (trial %d) failed: %s", architecture, source.number, reason)
            if isinstance(error, ObjectiveError):  # what the retraining measured besides the bad value
                attrs.update(error.kept)
            attrs[trials.FAIL_REASON_ATTR] = reason
            attrs[trials.OBJECTIVE_SECONDS_ATTR] = time.perf_counter() - started
            study.add_trial(
                create_trial(state=TrialState.FAIL, params=params, distributions=used, user_attrs=attrs)
            )
            continue
        attrs[trials.OBJECTIVE_SECONDS_ATTR] = time.perf_counter() - started
        attrs.update(values)
        state = TrialState.COMPLETE if math.isfinite(value) else TrialState.FAIL
        if state == TrialState.FAIL:
            attrs[trials.FAIL_REASON_ATTR] = f"objective returned {metric}={value}"
        # The study's constraints hold on the retrained metrics, stored where Optuna reads them.
        system_attrs = {}
        missing = [c.metric for c in constraints if c.metric not in values]
        if missing and state == TrialState.COMPLETE:
            state = TrialState.FAIL
            attrs[trials.FAIL_REASON_ATTR] = (
                f"the objective returned no {', '.join(map(repr, missing))}, which the study's constraints need"
            )
        elif constraints:
            system_attrs[trials.CONSTRAINT_VALUES_ATTR] = [
                c.value(float(values[c.metric])) for c in constraints
            ]
        study.add_trial(
            create_trial(
                state=state,
                value=value if state == TrialState.COMPLETE else None,
                params=params,
                distributions=used,
                user_attrs=attrs,
                system_attrs=system_attrs,
            )
        )
        logger.info(
            "Retrained %s (trial %d, %s %.4g) stand-alone: %s %.4g.",
            architecture,
            source.number,
            trials.fidelity_of(source) or "score",
            source.value,
            metric,
            value,
        )
    return result_of(study, space)
