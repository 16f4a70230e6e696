"""HydrationSettings: presets, validation, freezing and JSON round trips through gufe's codecs."""

from __future__ import annotations

import json

import pytest
from gufe.settings import Settings, ThermoSettings
from gufe.tokenization import JSON_HANDLER
from openff.units import unit
from pydantic import ValidationError

from alchemiscale.protocols.hydration import (
    EngineSettings,
    HydrationForceFieldSettings,
    HydrationSettings,
    LambdaSettings,
)


@pytest.mark.parametrize("preset", [HydrationSettings.production, HydrationSettings.fast, HydrationSettings.demo])
def test_presets_survive_gufe_json(preset):
    settings = preset()
    text = json.dumps(settings, cls=JSON_HANDLER.encoder)
    restored = json.loads(text, cls=JSON_HANDLER.decoder)
    assert isinstance(restored, HydrationSettings)
    assert restored == settings
    assert restored.solvation_settings.solvent_padding == settings.solvation_settings.solvent_padding
    assert isinstance(restored.lambda_settings.lambda_sterics, tuple)


def test_demo_preset_samples_the_fast_windows_longer_after_a_longer_equilibration():
    fast, demo = HydrationSettings.fast(), HydrationSettings.demo()
    assert demo.lambda_settings == fast.lambda_settings and demo.solvation_settings == fast.solvation_settings
    assert demo.sampling_settings.n_iterations == 100 > fast.sampling_settings.n_iterations
    assert demo.sampling_settings.equilibration_md_steps > fast.sampling_settings.equilibration_md_steps
    assert demo.sampling_settings.vacuum_n_iterations == fast.sampling_settings.vacuum_n_iterations
    # changes apply on top of the preset, as for the others
    changed = HydrationSettings.demo(sampling_settings={"n_iterations": 50})
    assert changed.sampling_settings.n_iterations == 50
    assert changed.sampling_settings.equilibration_iterations == demo.sampling_settings.equilibration_iterations


def test_settings_are_gufe_settings_with_quantities():
    settings = HydrationSettings.production()
    assert isinstance(settings, Settings)
    assert isinstance(settings.forcefield_settings, HydrationForceFieldSettings)
    assert isinstance(settings.thermo_settings, ThermoSettings)
    assert settings.thermo_settings.temperature == 298.15 * unit.kelvin
    assert settings.thermo_settings.pressure == 1.01325 * unit.bar
    assert settings.forcefield_settings.nonbonded_cutoff == 1.0 * unit.nanometer


def test_quantities_are_converted_to_the_field_unit():
    settings = HydrationSettings.fast(
        solvation_settings={"solvent_padding": 12.0 * unit.angstrom},
        integrator_settings={"timestep": 0.002 * unit.picosecond},
    )
    assert settings.solvation_settings.solvent_padding.units == unit.nanometer
    assert settings.solvation_settings.solvent_padding.m == pytest.approx(1.2)
    assert settings.integrator_settings.timestep.m_as("femtosecond") == pytest.approx(2.0)


def test_production_preset_samples_nanoseconds_with_hmr():
    settings = HydrationSettings.production()
    assert settings.integrator_settings.timestep == 4.0 * unit.femtosecond
    assert settings.forcefield_settings.hydrogen_mass == 3.0
    assert settings.n_windows >= 12
    assert settings.sampling_settings.n_iterations * settings.ns_per_iteration >= 1.0
    assert settings.forcefield_settings.small_molecule_forcefield == "gaff-2.11"
    assert settings.engine_settings == EngineSettings(platform="auto", precision="auto")


def test_fast_preset_is_small_and_accepts_changes():
    fast = HydrationSettings.fast()
    production = HydrationSettings.production()
    assert fast.n_windows < production.n_windows
    assert fast.sampling_settings.n_iterations * fast.ns_per_iteration < 0.05
    changed = HydrationSettings.fast(
        engine_settings={"platform": "CPU"},
        forcefield_settings={"small_molecule_forcefield": "gaff-1.81"},
        sampling_settings={"n_iterations": 7},
    )
    assert changed.engine_settings.platform == "CPU" and changed.engine_settings.precision == "auto"
    assert changed.forcefield_settings.small_molecule_forcefield == "gaff-1.81"
    # a dict changes only the fields it names: the rest of the section keeps the fast preset
    assert changed.forcefield_settings.nonbonded_cutoff == fast.forcefield_settings.nonbonded_cutoff
    assert changed.sampling_settings.n_iterations == 7
    assert changed.sampling_settings.steps_per_iteration == fast.sampling_settings.steps_per_iteration


def test_a_section_object_replaces_the_section():
    schedule = LambdaSettings(lambda_electrostatics=(1.0, 0.0, 0.0), lambda_sterics=(1.0, 1.0, 0.0))
    settings = HydrationSettings.fast(lambda_settings=schedule)
    assert settings.lambda_settings == schedule and settings.n_windows == 3


def test_vacuum_leg_uses_the_full_sterics_windows():
    schedule = HydrationSettings.fast().lambda_settings
    assert schedule.vacuum_window_indices() == [0, 1, 2, 3]
    assert all(schedule.lambda_sterics[i] == 1.0 for i in schedule.vacuum_window_indices())


def test_frozen_settings_refuse_changes_and_with_changes_validates():
    settings = HydrationSettings.fast().frozen_copy()
    with pytest.raises(AttributeError, match="immutable"):
        settings.sampling_settings.n_iterations = 5
    changed = settings.with_changes(sampling_settings={"n_iterations": 5})
    assert changed.sampling_settings.n_iterations == 5 and not changed.sampling_settings.is_frozen
    assert settings.sampling_settings.n_iterations == 30
    with pytest.raises(ValidationError, match="n_iterations"):
        settings.with_changes(sampling_settings={"n_iterations": 0})


def test_editing_a_section_in_place_validates_that_section():
    settings = HydrationSettings.fast()
    settings.engine_settings.platform = "CPU"
    assert settings.engine_settings.platform == "CPU"
    with pytest.raises(ValidationError, match="platform"):
        settings.engine_settings.platform = "TPU"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"forcefield_settings": {"small_molecule_forcefield": "gaff-3.0"}}, "small_molecule_forcefield"),
        ({"engine_settings": {"platform": "TPU"}}, "platform"),
        ({"thermo_settings": {"temperature": -1.0 * unit.kelvin}}, "positive temperature"),
        ({"thermo_settings": {"pressure": None}}, "constant pressure"),
        ({"solvation_settings": {"solvent_padding": 1.0 * unit.picosecond}}, "not compatible"),
        ({"integrator_settings": {"timestep": 6.0 * unit.femtosecond}}, "at most 5.0 fs"),
        ({"sampling_settings": {"not_a_setting": 1}}, "not_a_setting"),
        ({"not_a_section": {}}, "not_a_section"),
        ({"lambda_settings": {"lambda_electrostatics": (1.0, 0.0)}}, "2 windows but lambda_sterics has 8"),
        (
            {"lambda_settings": {"lambda_electrostatics": (1.0, 0.5, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0)}},
            "must not increase",
        ),
        ({"lambda_settings": {"lambda_sterics": (0.9, 1.0, 1.0, 1.0, 0.7, 0.45, 0.25, 0.0)}}, "must not increase"),
        ({"lambda_settings": {"lambda_sterics": (1.0, 1.0, 1.0, 1.0, 0.7, 0.45, 0.25, 0.1)}}, "end at 0.0"),
        (
            {"lambda_settings": {"lambda_sterics": (1.0, 0.9, 0.8, 0.8, 0.7, 0.45, 0.25, 0.0)}},
            "electrostatics must be fully off",
        ),
        ({"lambda_settings": {"lambda_electrostatics": (1.0, 0.0), "lambda_sterics": (1.0, 0.0)}}, "vacuum leg"),
        (
            {
                "solvation_settings": {"solvent_padding": 0.8 * unit.nanometer},
                "forcefield_settings": {"nonbonded_cutoff": 0.8 * unit.nanometer},
            },
            "solvent_padding .* must exceed forcefield_settings.nonbonded_cutoff",
        ),
        ({"forcefield_settings": {"hydrogen_mass": 1.008}}, "hydrogen mass repartitioning"),
    ],
)
def test_invalid_settings_are_rejected_with_the_reason(changes, message):
    with pytest.raises(ValidationError, match=message):
        HydrationSettings.fast(**changes)


def test_two_femtoseconds_needs_no_hmr():
    settings = HydrationSettings.fast(
        integrator_settings={"timestep": 2.0 * unit.femtosecond}, forcefield_settings={"hydrogen_mass": 1.008}
    )
    assert settings.forcefield_settings.hydrogen_mass == 1.008
