"""Compute manager pieces without a server: the scaling rule, the YAML settings, service configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alchemiscale.compute.manager import (
    ComputeManagerConfig,
    ComputeManagerSettingsError,
    SlurmComputeManagerSettings,
    plan_scaling,
)
from alchemiscale.compute.manager.local import LocalComputeManager

CONFIGS = Path(__file__).parents[4] / "devtools" / "configs"
SERVICE = {"api_url": "http://127.0.0.1:1", "identifier": "c", "key": "secret-key", "name": "svc",
           "shared_basedir": "/tmp/s", "scratch_basedir": "/tmp/t"}


@pytest.mark.parametrize(
    "num_tasks, running, busy, claim_limit, expected_start, expected_stop",
    [
        (5, set(), set(), 1, 2, ()),  # capped by max_submit_per_cycle
        (5, {"a", "b", "c"}, {"a", "b"}, 1, 1, ()),  # idle c claims first; room for one more of 4
        (1, {"a"}, set(), 1, 0, ()),  # the idle service will claim it
        (4, {"a"}, {"a"}, 2, 2, ()),  # two Tasks per service
        (0, {"a", "b", "c"}, {"b"}, 1, 0, ("a", "c")),  # nothing waits: stop the idle ones
        (9, {"a", "b", "c", "d"}, {"a", "b", "c", "d"}, 1, 0, ()),  # at max_compute_services
    ],
)
def test_plan_scaling(num_tasks, running, busy, claim_limit, expected_start, expected_stop):
    plan = plan_scaling(num_tasks, running, busy, claim_limit, max_services=4, max_submit=2)
    assert (plan.start, plan.stop) == (expected_start, expected_stop)


@pytest.mark.parametrize("template", ["local-compute-manager.yaml", "slurm-compute-manager.yaml"])
def test_templates_load(template):
    config = ComputeManagerConfig.from_yaml(CONFIGS / template)
    assert config.manager.kind == template.split("-")[0] and config.service.name


def test_slurm_time_limit_and_reserved_options(tmp_path):
    base = {"kind": "slurm", "name": "m", "max_compute_services": 1, "workdir": str(tmp_path)}
    assert SlurmComputeManagerSettings(**base, time_limit="01:30:00").time_limit.total_seconds() == 5400
    with pytest.raises(ValueError, match="sbatch_options cannot set output"):
        SlurmComputeManagerSettings(**base, sbatch_options={"output": "x"})


@pytest.mark.parametrize(
    "text, message",
    [
        ("- a\n", "must be a mapping with a 'manager:' section"),
        ("manager: {kind: pbs}\nservice: {}\n", "invalid compute manager config"),
        ("manager: [\n", "is not valid YAML"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ComputeManagerSettingsError, match=message):
        ComputeManagerConfig.from_yaml(path)


def test_service_config_has_name_manager_key_and_private_file(tmp_path):
    config = ComputeManagerConfig(
        manager={"kind": "local", "name": "m", "max_compute_services": 1, "workdir": str(tmp_path)}, service=SERVICE
    )
    manager = LocalComputeManager(config.manager, config.service)
    try:
        path = manager.write_service_config("svc.abc.0")
        written = yaml.safe_load(path.read_text())
        assert written["key"] == "secret-key" and written["name"] == "svc.abc.0"
        assert written["compute_manager_id"] == str(manager.compute_manager_id)
        assert written["logfile"] == str(tmp_path / "logs" / "svc.abc.0.log")
        assert path.stat().st_mode & 0o077 == 0
    finally:
        manager.client.close()


def test_cli_bad_config_and_unreachable_api_are_one_line_errors(tmp_path):
    from click.testing import CliRunner

    from alchemiscale.cli import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text("service: {}\n")
    result = CliRunner().invoke(cli, ["computemanager", "start", "-c", str(bad)])
    assert result.exit_code == 1 and "must be a mapping with a 'manager:' section" in result.output
    assert "Traceback" not in result.output

    config = tmp_path / "manager.yaml"
    manager = {"kind": "local", "name": "m", "max_compute_services": 1, "workdir": str(tmp_path / "w"),
               "client_max_retries": 0}
    config.write_text(yaml.safe_dump({"manager": manager, "service": SERVICE}))
    result = CliRunner().invoke(cli, ["computemanager", "start", "-c", str(config)])
    assert result.exit_code == 1 and result.output.startswith("Error: compute manager stopped: ")
    assert len(result.output.splitlines()) == 1 and "secret-key" not in result.output
