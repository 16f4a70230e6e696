"""The strategist's rules from proposal to Task changes, and its settings file."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from alchemiscale.strategist.planning import normalize, plan_transformation, task_count, task_weights
from alchemiscale.strategist.settings import StrategistSettings, StrategistSettingsError


def test_normalize_over_non_none_weights():
    assert normalize({"a": 3.0, "b": 1.0, "c": None}) == {"a": 0.75, "b": 0.25, "c": None}
    assert normalize({"a": 0.0, "b": None}) == {"a": 0.0, "b": None}
    for bad in (-1.0, math.nan, math.inf, "1", True):
        with pytest.raises(ValueError, match="weights must be None or >= 0"):
            normalize({"a": bad})


@pytest.mark.parametrize(
    "weight, scaling, expected",
    [
        (None, "exponential", 0), (0.0, "linear", 0), (1.0, "linear", 3), (1.0, "exponential", 3),
        (0.5, "exponential", 2),  # int(4 ** 0.5)
        (0.25, "exponential", 1),  # int(4 ** 0.25) = int(1.41)
        (0.5, "linear", 2),  # int(1 + 1.5)
        (0.99, "linear", 3),  # int(3.97), capped at max
    ],
)
def test_task_count(weight, scaling, expected):
    assert task_count(weight, 3, scaling) == expected


def test_task_count_never_exceeds_the_limit():
    for max_tasks in (1, 2, 7, 50):
        for scaling in ("linear", "exponential"):
            assert max(task_count(w / 100, max_tasks, scaling) for w in range(101)) == max_tasks
    with pytest.raises(ValueError, match="unknown task_scaling"):
        task_count(0.5, 3, "cubic")


def test_task_weights_relative_to_the_largest():
    assert task_weights({"a": 0.5, "b": 0.25, "c": None, "d": 0.0}) == {"a": 1.0, "b": 0.5}
    assert task_weights({"a": None}) == {}


def test_plan_reuses_running_then_waiting_then_creates():
    tasks = [("w1", "waiting"), ("r1", "running"), ("c1", "complete"), ("a1", "waiting")]
    plan = plan_transformation(4, tasks, actioned={"a1"}, mode="partial")
    assert (plan.action, plan.create, plan.cancel) == (["r1", "w1"], 1, [])
    assert plan_transformation(1, tasks, actioned={"a1"}, mode="partial").action == []


def test_only_full_mode_cancels_waiting_before_running():
    tasks = [("r1", "running"), ("w1", "waiting"), ("w2", "waiting"), ("x1", "waiting")]
    actioned = {"r1", "w1", "w2"}
    assert plan_transformation(0, tasks, actioned, "partial").cancel == []
    assert plan_transformation(1, tasks, actioned, "full").cancel == ["w1", "w2"]
    assert plan_transformation(0, tasks, actioned, "full").cancel == ["w1", "w2", "r1"]


def test_settings_yaml_errors_are_one_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("api_url: http://api\nidentifier: me\nkey: hush\nscopes: ['a-b-c']\nsleep_interval: 0\n")
    with pytest.raises(StrategistSettingsError) as e:
        StrategistSettings.from_yaml(path)
    assert "\n" not in str(e.value) and "sleep_interval" in str(e.value) and "hush" not in str(e.value)
    path.write_text("api_url: http://api\nidentifier: me\nkey: hush\nscopes: ['a-b-c', '*-*-*']\n")
    settings = StrategistSettings.from_yaml(path)
    assert [str(s) for s in settings.scopes] == ["a-b-c", "*-*-*"] and "hush" not in repr(settings)
    path.write_text("- not a mapping\n")
    with pytest.raises(StrategistSettingsError, match="must be a mapping"):
        StrategistSettings.from_yaml(path)


def test_settings_template_loads():
    template = Path(__file__).parents[3] / "devtools" / "configs" / "strategist-settings.yaml"
    settings = StrategistSettings.from_yaml(template)
    assert settings.sleep_interval == 300 and [str(s) for s in settings.scopes] == ["my_org-my_campaign-*"]
