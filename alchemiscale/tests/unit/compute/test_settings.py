"""ComputeServiceSettings: flat YAML in, clear errors out, the key kept secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from alchemiscale.compute.service import make_logger
from alchemiscale.compute.settings import ComputeServiceSettings, ComputeServiceSettingsError
from alchemiscale.models import Scope

SECRET = "s3cr3t-compute-key-value"
TEMPLATE = Path(__file__).parents[4] / "devtools" / "configs" / "synchronous-compute-settings.yaml"


def minimal(tmp_path: Path, **extra) -> dict:
    return {
        "api_url": "https://compute.example.org/",
        "identifier": "compute-identity",
        "key": SECRET,
        "name": "worker_1",
        "shared_basedir": str(tmp_path / "shared"),
        "scratch_basedir": str(tmp_path / "scratch"),
        **extra,
    }


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_flat_yaml_loads_with_defaults(tmp_path):
    settings = ComputeServiceSettings.from_yaml(write(tmp_path, minimal(tmp_path)))
    assert settings.api_url == "https://compute.example.org"
    assert settings.key.get_secret_value() == SECRET
    assert settings.shared_basedir == tmp_path / "shared"
    assert (settings.n_retries, settings.sleep_interval, settings.deep_sleep_interval) == (3, 30, 300)
    assert (settings.heartbeat_interval, settings.claim_limit, settings.loglevel) == (300, 1, "WARN")
    assert settings.scopes is None and settings.scopes_exclude is None and settings.protocols is None
    assert settings.max_tasks is None and settings.max_time is None
    assert settings.client_use_local_cache is False
    assert (settings.client_max_retries, settings.client_retry_base_seconds) == (5, 2.0)
    assert (settings.client_retry_max_seconds, settings.client_verify) == (60.0, True)
    assert settings.client_cache_size_limit == 1024**3


def test_scopes_parse_from_strings_and_empty_exclude_means_none(tmp_path):
    data = minimal(tmp_path, scopes=["org-camp-proj", "other-*-*"], scopes_exclude=[], protocols=["SuccessProtocol"])
    settings = ComputeServiceSettings.from_yaml(write(tmp_path, data))
    assert settings.scopes == [Scope("org", "camp", "proj"), Scope("other")]
    assert settings.scopes_exclude is None
    assert settings.protocols == ["SuccessProtocol"]


def test_one_slot_by_default_and_devices_read_as_strings(tmp_path):
    settings = ComputeServiceSettings.from_yaml(write(tmp_path, minimal(tmp_path)))
    assert (settings.max_concurrent_tasks, settings.devices, settings.max_task_time) == (1, None, None)
    assert settings.worker_max_tasks is None and "openmm" in settings.worker_preload
    data = minimal(tmp_path, max_concurrent_tasks=4, devices=[0, 1])
    settings = ComputeServiceSettings.from_yaml(write(tmp_path, data))
    assert settings.devices == ["0", "1"]


def test_overrides_win_and_none_is_skipped(tmp_path):
    path = write(tmp_path, minimal(tmp_path))
    settings = ComputeServiceSettings.from_yaml(path, {"name": "from_cli", "compute_manager_id": None})
    assert settings.name == "from_cli"
    assert settings.compute_manager_id is None


def test_nested_layout_is_rejected(tmp_path):
    flat = minimal(tmp_path)
    nested = {"init": {k: v for k, v in flat.items() if k != "sleep_interval"}, "start": {"max_tasks": 1}}
    with pytest.raises(ComputeServiceSettingsError, match="old nested layout.*top level"):
        ComputeServiceSettings.from_yaml(write(tmp_path, nested))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sleep_intervall": 3}, "sleep_intervall"),
        ({"claim_limit": 0}, "claim_limit"),
        ({"api_url": "compute.example.org"}, "http"),
        ({"name": "bad-name"}, "no '-'"),
        ({"scopes": ["a-b"]}, "3 parts"),
        ({"protocols": []}, "at least one Protocol"),
        ({"loglevel": "LOUD"}, "loglevel"),
        ({"max_concurrent_tasks": 0}, "max_concurrent_tasks"),
        ({"devices": []}, "devices must list GPU ids"),
        ({"devices": ["0", "1 2"]}, "devices must list GPU ids"),
        ({"client_retry_base_seconds": 0.5}, "client_retry_base_seconds must be greater than 1, got 0.5"),
        ({"client_retry_max_seconds": -1}, "client_retry_max_seconds"),
    ],
)
def test_bad_values_are_named(tmp_path, change, message):
    with pytest.raises(ComputeServiceSettingsError, match=message) as error:
        ComputeServiceSettings.from_yaml(write(tmp_path, minimal(tmp_path, **change)))
    assert "\n" not in str(error.value)  # one line, naming the setting


def test_missing_file_and_non_mapping_are_clear(tmp_path):
    with pytest.raises(ComputeServiceSettingsError, match="cannot read"):
        ComputeServiceSettings.from_yaml(tmp_path / "absent.yaml")
    with pytest.raises(ComputeServiceSettingsError, match="must be a mapping"):
        ComputeServiceSettings.from_yaml(write(tmp_path, ["api_url"]))


def test_key_never_shown(tmp_path):
    settings = ComputeServiceSettings.from_yaml(write(tmp_path, minimal(tmp_path)))
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()
    with pytest.raises(ComputeServiceSettingsError) as error:  # a bad value elsewhere: key not echoed back
        ComputeServiceSettings.from_yaml(write(tmp_path, minimal(tmp_path, key=["not", SECRET])))
    assert SECRET not in str(error.value)


def test_key_never_logged(tmp_path):
    settings = ComputeServiceSettings.from_yaml(write(tmp_path, minimal(tmp_path, logfile=str(tmp_path / "log.txt"))))
    logger = make_logger("worker_1-" + "0" * 32, "DEBUG", settings.logfile)
    logger.info("settings: %s", settings)
    for handler in logger.handlers:
        handler.flush()
    text = settings.logfile.read_text()
    assert "settings:" in text and SECRET not in text
    assert text.startswith("[") and "UTC] [worker_1-" in text and "[INFO]" in text
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def test_template_is_a_valid_flat_config():
    settings = ComputeServiceSettings.from_yaml(TEMPLATE)
    documented = set(yaml.safe_load(TEMPLATE.read_text()))
    commented_names = {
        line.lstrip("# ").split(":")[0] for line in TEMPLATE.read_text().splitlines() if line.startswith("# ")
    }
    commented = commented_names & set(ComputeServiceSettings.model_fields)
    assert documented | commented == set(ComputeServiceSettings.model_fields)
    assert settings.loglevel in {name for name in logging.getLevelNamesMapping()}
