"""The specification of an experiment, apart from running it: what a stored result keeps."""

import dataclasses

import numpy as np
import pytest

from spchain.experiments.analysis import ExperimentResult
from spchain.experiments.experiment import Experiment
from spchain.experiments.scenarios import Scenario
from spchain.experiments.spec import ExperimentSpec, replication_seed
from spchain.params import ParamError
from spchain.presets import queue_only
from spchain.result import FieldView
from spchain.metrics import FIELDS


def _spec(cls=ExperimentSpec, **kw):
    kw = dict(dict(n_replications=2, horizon=3, seed=5), **kw)
    return cls(queue_only(4.0, 1.0, 5, hours_per_week=40.0),
               scenarios=[Scenario("c5"), Scenario("c6", levers={"workforce.n_employees": 6})], **kw)


def test_a_spec_and_an_experiment_of_the_same_fields_are_equal_and_hash_alike():
    spec, experiment = _spec(), _spec(Experiment)
    assert spec == experiment and experiment == spec
    assert hash(spec) == hash(experiment)
    assert spec != _spec(seed=6) and experiment != _spec(Experiment, warmup=1)
    assert spec != "not a spec"


def test_seeds_follow_the_seed_sequence_with_and_without_common_random_numbers():
    spec = _spec()
    expected = int(np.random.SeedSequence(5, spawn_key=(1,)).generate_state(1, np.uint64)[0])
    assert spec.seed_of("c5", 1) == spec.seed_of("c6", 1) == replication_seed(5, 1) == expected
    independent = _spec(crn=False)
    assert independent.seed_of("c6", 1) == replication_seed(5, 1, 1) != independent.seed_of("c5", 1)


def test_from_dict_and_from_store_build_the_class_they_are_called_on(tmp_path):
    experiment = _spec(Experiment, warmup=1)
    assert type(ExperimentSpec.from_dict(experiment.to_dict())) is ExperimentSpec
    assert type(Experiment.from_dict(experiment.to_dict())) is Experiment
    path = tmp_path / "runs.sqlite"
    result = experiment.run(store=path)
    assert result.experiment is experiment
    loaded = ExperimentResult.load(path)
    assert type(loaded.experiment) is ExperimentSpec and loaded.experiment == experiment
    resumed = Experiment.from_store(path)
    assert type(resumed) is Experiment and resumed == experiment
    assert loaded.with_warmup(2).experiment == dataclasses.replace(experiment, warmup=2)


def test_a_spec_is_checked_before_anything_runs():
    with pytest.raises(ParamError, match=r"n_replications must be an integer >= 1, got 0"):
        _spec(n_replications=0)
    with pytest.raises(ParamError, match=r"scenario names must be unique, 'a' appears 2 times"):
        ExperimentSpec(scenarios=[Scenario("a"), Scenario("a")])
    with pytest.raises(ParamError, match=r"scenario 'late': change at week 9 .* beyond the horizon of 3 weeks"):
        ExperimentSpec(horizon=3, scenarios=[Scenario("late", levers={"workforce.pay_index": 1.1}, at_week=9)])


def test_field_view_reads_one_field_along_the_last_axis():
    sums = np.arange(2 * 3 * len(FIELDS), dtype=float).reshape(2, 3, len(FIELDS))
    k = FIELDS.index("revenue")
    assert np.array_equal(FieldView(sums)["revenue"], sums[:, :, k])
    with pytest.raises(KeyError):
        FieldView(sums)["no such field"]
