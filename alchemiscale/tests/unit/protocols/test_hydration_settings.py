"""HydrationSettings: presets, validation, hashing and JSON round trips."""

from __future__ import annotations

import json

import pytest
from gufe.tokenization import JSON_HANDLER
from pydantic import ValidationError

from alchemiscale.protocols.hydration import HydrationSettings


@pytest.mark.parametrize("preset", [HydrationSettings.production, HydrationSettings.fast])
def test_presets_are_hashable_and_survive_json(preset):
    settings = preset()
    text = json.dumps(settings.to_json_dict(), cls=JSON_HANDLER.encoder)
    restored = HydrationSettings.from_json_dict(json.loads(text, cls=JSON_HANDLER.decoder))
    assert restored == settings
    assert hash(restored) == hash(settings)
    assert isinstance(restored.lambda_sterics, tuple)


def test_production_preset_samples_nanoseconds_with_hmr():
    settings = HydrationSettings.production()
    assert settings.timestep_fs == 4.0 and settings.hydrogen_mass_amu == 3.0
    assert settings.n_windows >= 12
    assert settings.n_iterations * settings.ns_per_iteration >= 1.0
    assert settings.forcefield == "gaff-2.11"
    assert settings.platform == "auto" and settings.precision == "auto"


def test_fast_preset_is_small_and_accepts_overrides():
    fast = HydrationSettings.fast()
    production = HydrationSettings.production()
    assert fast.n_windows < production.n_windows
    assert fast.n_iterations * fast.ns_per_iteration < 0.05
    assert HydrationSettings.fast(platform="CPU", forcefield="gaff-1.81").platform == "CPU"


def test_vacuum_leg_uses_the_full_sterics_windows():
    fast = HydrationSettings.fast()
    assert fast.vacuum_window_indices() == [0, 1, 2, 3]
    assert all(fast.lambda_sterics[i] == 1.0 for i in fast.vacuum_window_indices())


def test_settings_are_frozen_and_with_changes_validates():
    settings = HydrationSettings.fast()
    with pytest.raises(ValidationError):
        settings.n_iterations = 5
    assert settings.with_changes(n_iterations=5).n_iterations == 5
    with pytest.raises(ValidationError, match="n_iterations"):
        settings.with_changes(n_iterations=0)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"forcefield": "gaff-3.0"}, "forcefield"),
        ({"platform": "TPU"}, "platform"),
        ({"temperature_kelvin": -1.0}, "temperature_kelvin"),
        ({"not_a_setting": 1}, "not_a_setting"),
        ({"lambda_electrostatics": (1.0, 0.0)}, "2 windows but lambda_sterics has 8"),
        ({"lambda_electrostatics": (1.0, 0.5, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0)}, "must not increase"),
        ({"lambda_sterics": (0.9, 1.0, 1.0, 1.0, 0.7, 0.45, 0.25, 0.0)}, "must not increase"),
        ({"lambda_sterics": (1.0, 1.0, 1.0, 1.0, 0.7, 0.45, 0.25, 0.1)}, "end at 0.0"),
        ({"lambda_sterics": (1.0, 0.9, 0.8, 0.8, 0.7, 0.45, 0.25, 0.0)}, "electrostatics must be fully off"),
        ({"lambda_electrostatics": (1.0, 0.0), "lambda_sterics": (1.0, 0.0)}, "vacuum leg"),
        ({"solvent_padding_nm": 0.8, "nonbonded_cutoff_nm": 0.8}, "solvent_padding_nm"),
        ({"timestep_fs": 4.0, "hydrogen_mass_amu": 1.008}, "hydrogen mass repartitioning"),
    ],
)
def test_invalid_settings_are_rejected_with_the_reason(changes, message):
    with pytest.raises(ValidationError, match=message):
        HydrationSettings.fast(**changes)


def test_two_femtoseconds_needs_no_hmr():
    assert HydrationSettings.fast(timestep_fs=2.0, hydrogen_mass_amu=1.008).hydrogen_mass_amu == 1.008
