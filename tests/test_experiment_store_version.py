"""A store is keyed on the engine's sample-path version: runs of two engines are never mixed."""

import pytest

import spchain.experiments.experiment as experiment_module
import spchain.engine.model
from spchain.experiments.analysis import ExperimentResult
from spchain.experiments.experiment import Experiment
from spchain.presets import queue_only
from spchain.experiments.scenarios import Scenario
from spchain.experiments.store import Store, StoreError


def _exp(**kw):
    return Experiment(queue_only(4.0, 1.0, 5, hours_per_week=40.0),
                      scenarios=[Scenario("c5"), Scenario("c6", levers={"workforce.n_employees": 6})],
                      **dict(dict(n_replications=2, horizon=3, seed=11), **kw))


@pytest.fixture
def store_of_this_engine(tmp_path):
    path = tmp_path / "sweep.sqlite"
    _exp().run(store=path)
    return path


@pytest.fixture
def another_engine(monkeypatch):
    """This engine's sample path, changed; fails the test if a run starts."""
    current = spchain.engine.model.SAMPLE_PATH_VERSION
    monkeypatch.setattr(spchain.engine.model, "SAMPLE_PATH_VERSION", current + 997)

    def refuse(task):
        raise AssertionError(f"a run started: {task[:2]}")
    monkeypatch.setattr(experiment_module, "run_task", refuse)
    return current, current + 997


def test_the_version_is_part_of_the_definition_and_the_manifest(store_of_this_engine):
    version = spchain.engine.model.SAMPLE_PATH_VERSION
    assert _exp().definition()["sample_path_version"] == version
    manifest = ExperimentResult.load(store_of_this_engine).manifest
    assert manifest["sample_path_version"] == version
    assert manifest["definition"]["sample_path_version"] == version


@pytest.mark.parametrize("how", ["resume", "extend"])
def test_a_store_of_another_engine_is_refused_naming_both_versions(store_of_this_engine, another_engine, how):
    stored, current = another_engine
    experiment = Experiment.from_store(store_of_this_engine)  # rebuilding the definition is fine...
    if how == "extend":
        experiment = _exp(n_replications=4)
    with pytest.raises(StoreError, match=rf"sample-path version {stored}\b.*sample-path version is {current}\b"
                                         rf".*cannot be resumed or extended.*ExperimentResult\.load"):
        experiment.run(store=store_of_this_engine)  # ... running into the store is not
    with Store(store_of_this_engine) as store:
        assert len(store.finished()) == 4 and len(store.manifest()["sessions"]) == 1


def test_the_stored_runs_of_another_engine_can_still_be_loaded(store_of_this_engine, another_engine):
    stored, _ = another_engine
    loaded = ExperimentResult.load(store_of_this_engine)
    assert loaded.manifest["sample_path_version"] == stored
    assert loaded.n_replications == 2 and loaded.kpi("served", scenario="c6").shape == (2, 3)


def test_a_store_from_before_versioning_is_refused_as_such(tmp_path, monkeypatch):
    from spchain.experiments.store import definition_hash

    path = tmp_path / "old.sqlite"
    manifest = _exp().manifest()
    del manifest["definition"]["sample_path_version"], manifest["sample_path_version"]
    manifest["definition_hash"] = definition_hash(manifest["definition"])
    with Store(path) as store:
        store.begin(manifest, {"executor": "serial"})
    monkeypatch.setattr(experiment_module, "run_task", lambda task: pytest.fail("a run started"))
    with pytest.raises(StoreError, match=r"older than sample-path versions; this engine's sample-path version is "
                                         rf"{spchain.engine.model.SAMPLE_PATH_VERSION}\b"):
        _exp().run(store=path)
