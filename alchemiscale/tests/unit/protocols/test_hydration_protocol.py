"""HydrationProtocol without simulations: serialization, DAG shape, input checks and failure handling."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from gufe import AlchemicalNetwork, ChemicalSystem, LigandAtomMapping, SolventComponent, Transformation
from gufe.protocols import ProtocolDAG, ProtocolValidationError, execute_DAG
from gufe.tokenization import JSON_HANDLER
from openff.units import Quantity, unit
from pydantic import ValidationError

from alchemiscale.serialization.gufe_chain import from_keyed_chain_json, to_keyed_chain_json
from alchemiscale.protocols.hydration import (
    HydrationInputError,
    HydrationProtocol,
    HydrationProtocolResult,
    HydrationResultUnit,
    HydrationSettings,
    HydrationSetupUnit,
    ParameterizationError,
    SolventLegUnit,
    VacuumLegUnit,
    hydration_transformation,
    pure_water,
    small_molecule_from_smiles,
)
from alchemiscale.protocols.hydration.analysis import combine_repeats, hydration_free_energy, mbar_estimate
from alchemiscale.protocols.hydration.platforms import select_platform


@pytest.fixture(scope="module")
def methane_transformation() -> Transformation:
    return hydration_transformation("C", "methane", settings=HydrationSettings.fast())


def test_default_settings_are_the_production_preset():
    assert HydrationProtocol.default_settings() == HydrationSettings.production()


def test_protocol_needs_hydration_settings():
    with pytest.raises(ValueError, match="HydrationSettings"):
        HydrationProtocol({"n_iterations": 3})


def test_protocol_round_trips_through_dicts_and_json():
    protocol = HydrationProtocol(HydrationSettings.fast(engine_settings={"platform": "CPU"}))
    from_dict = HydrationProtocol.from_dict(protocol.to_dict())
    assert from_dict == protocol and from_dict.key == protocol.key
    text = json.dumps(protocol.to_dict(), cls=JSON_HANDLER.encoder)
    restored = HydrationProtocol.from_dict(json.loads(text, cls=JSON_HANDLER.decoder))
    assert restored.key == protocol.key and restored.settings.engine_settings.platform == "CPU"
    assert restored.settings.is_frozen
    keyed = protocol.to_keyed_dict()
    assert keyed["settings"] == protocol.settings
    assert HydrationProtocol.from_keyed_dict(keyed) == protocol


def test_settings_change_the_protocol_key():
    fast = HydrationProtocol(HydrationSettings.fast())
    assert fast.key != HydrationProtocol(HydrationSettings.fast(sampling_settings={"n_iterations": 41})).key
    assert fast.key == HydrationProtocol(HydrationSettings.fast()).key


def test_protocol_freezes_its_settings():
    settings = HydrationSettings.fast()
    protocol = HydrationProtocol(settings)
    with pytest.raises(AttributeError, match="immutable"):
        protocol.settings.sampling_settings.n_iterations = 5
    settings.sampling_settings.n_iterations = 5  # the caller's copy stays editable
    assert protocol.settings.sampling_settings.n_iterations == 30


def test_protocol_checks_sections_edited_in_place_against_each_other():
    settings = HydrationProtocol.default_settings()
    settings.forcefield_settings.nonbonded_cutoff = 1.2 * unit.nanometer  # valid on its own
    with pytest.raises(ValidationError, match="solvent_padding .* must exceed"):
        HydrationProtocol(settings)
    settings.solvation_settings.solvent_padding = 1.4 * unit.nanometer
    protocol = HydrationProtocol(settings)
    assert protocol.settings.forcefield_settings.nonbonded_cutoff == 1.2 * unit.nanometer


def test_transformation_sits_in_a_network_and_round_trips_as_a_keyed_chain(methane_transformation):
    network = AlchemicalNetwork(edges=[methane_transformation], name="hydration")
    assert methane_transformation in network.edges
    restored = from_keyed_chain_json(json.loads(json.dumps(to_keyed_chain_json(methane_transformation))))
    assert restored == methane_transformation and restored.key == methane_transformation.key
    assert isinstance(restored.protocol, HydrationProtocol)


def test_transformation_states(methane_transformation):
    (ligand,) = [c for c in methane_transformation.stateA.components.values() if c.smiles == "C"]
    assert ligand.name == "methane"
    assert list(methane_transformation.stateB.components.values()) == [pure_water()]
    assert pure_water().ion_concentration == 0.0 * unit.molar and pure_water().smiles == "O"
    assert methane_transformation.name == "methane hydration"


def test_dag_is_setup_then_two_independent_legs_then_result(methane_transformation):
    dag = methane_transformation.create()
    assert dag.transformation_key == methane_transformation.key and dag.extends_key is None
    units = {type(u): u for u in dag.protocol_units}
    assert set(units) == {HydrationSetupUnit, VacuumLegUnit, SolventLegUnit, HydrationResultUnit}
    setup, vacuum = units[HydrationSetupUnit], units[VacuumLegUnit]
    solvent, result = units[SolventLegUnit], units[HydrationResultUnit]
    assert setup.dependencies == []
    assert vacuum.dependencies == [setup] and solvent.dependencies == [setup]
    assert set(result.dependencies) == {vacuum, solvent}
    assert dag.protocol_units[0] is setup and dag.protocol_units[-1] is result
    assert setup.inputs["settings"] == methane_transformation.protocol.settings
    text = json.dumps(dag.to_dict(), cls=JSON_HANDLER.encoder)
    restored = ProtocolDAG.from_dict(json.loads(text, cls=JSON_HANDLER.decoder))
    assert len(restored.protocol_units) == 4
    assert restored.protocol_units[1].inputs["settings"] == methane_transformation.protocol.settings


def _parts(transformation: Transformation):
    return transformation.protocol, transformation.stateA, transformation.stateB


def _system(*components, name="s"):
    return ChemicalSystem({f"c{i}": c for i, c in enumerate(components)}, name=name)


@pytest.mark.parametrize(
    "case, message",
    [
        ("no molecule", "exactly one SmallMoleculeComponent"),
        ("two molecules", "exactly one SmallMoleculeComponent"),
        ("molecule in B", "stateB must contain no SmallMoleculeComponent"),
        ("different solvent", "same SolventComponent"),
        ("no solvent", "one SolventComponent"),
        ("not water", "must be water"),
    ],
)
def test_wrong_end_states_are_rejected(case, message):
    """By ``validate`` and by ``create``, as gufe's ProtocolValidationError."""
    protocol = HydrationProtocol(HydrationSettings.fast())
    methane = small_molecule_from_smiles("C", "methane")
    ethane = small_molecule_from_smiles("CC", "ethane")
    water = pure_water()
    salty = SolventComponent(ion_concentration=0.15 * unit.molar)
    methanol = SolventComponent(smiles="CO", ion_concentration=0.0 * unit.molar)
    states = {
        "no molecule": (_system(water), _system(water)),
        "two molecules": (_system(methane, ethane, water), _system(water)),
        "molecule in B": (_system(methane, water), _system(methane, water)),
        "different solvent": (_system(methane, water), _system(salty)),
        "no solvent": (_system(methane), _system(water)),
        "not water": (_system(methane, methanol), _system(methanol)),
    }[case]
    with pytest.raises(HydrationInputError, match=message) as raised:
        protocol.validate(stateA=states[0], stateB=states[1], mapping=None)
    assert isinstance(raised.value, ProtocolValidationError)
    with pytest.raises(HydrationInputError, match=message):
        protocol.create(stateA=states[0], stateB=states[1], mapping=None)


def test_a_mapping_is_rejected(methane_transformation):
    methane = small_molecule_from_smiles("C", "methane")
    mapping = LigandAtomMapping(methane, methane, {0: 0})
    protocol, stateA, stateB = _parts(methane_transformation)
    with pytest.raises(ProtocolValidationError, match="no atom mapping"):
        protocol.validate(stateA=stateA, stateB=stateB, mapping=mapping)
    protocol.validate(stateA=stateA, stateB=stateB, mapping=None)


def test_validate_names_a_molecule_gaff_cannot_handle(methane_transformation):
    silane = small_molecule_from_smiles("[SiH4]", "silane")
    water = pure_water()
    with pytest.raises(ParameterizationError, match="'silane'.*element\\(s\\) Si") as raised:
        methane_transformation.protocol.validate(
            stateA=_system(silane, water), stateB=_system(water), mapping=None
        )
    assert isinstance(raised.value, ProtocolValidationError)


@pytest.mark.parametrize(
    "smiles, name, message",
    [
        ("[SiH4]", "silane", "element\\(s\\) Si"),
        ("C[NH3+]", "methylammonium", "net charge \\+1"),
        ("CC(=O)[O-]", "acetate", "net charge -1"),
    ],
)
def test_molecules_gaff_cannot_handle_are_named(smiles, name, message):
    with pytest.raises(ParameterizationError, match=f"'{name}'.*{message}"):
        hydration_transformation(smiles, name)


def test_unparsable_smiles_is_named():
    with pytest.raises(ValueError, match="'broken'"):
        hydration_transformation("C1CC", "broken")


def _execute(dag: ProtocolDAG, basedir):
    """Run a DAG in-process, recording failures instead of raising them."""
    (basedir / "shared").mkdir()
    (basedir / "scratch").mkdir()
    return execute_DAG(
        dag, shared_basedir=basedir / "shared", scratch_basedir=basedir / "scratch", raise_error=False
    )


def _silane_units() -> list:
    """The DAG a protocol would build for silane, which GAFF cannot parameterize (create() refuses it)."""
    silane = small_molecule_from_smiles("[SiH4]", "silane")
    settings = HydrationProtocol(HydrationSettings.fast()).settings
    setup = HydrationSetupUnit(name="setup", component=silane, settings=settings)
    vacuum = VacuumLegUnit(name="vacuum", setup=setup, component=silane, solvent=pure_water(), settings=settings)
    solvent = SolventLegUnit(name="solvent", setup=setup, component=silane, solvent=pure_water(), settings=settings)
    return [setup, vacuum, solvent, HydrationResultUnit(name="result", vacuum=vacuum, solvent=solvent)]


def test_failed_setup_unit_names_the_molecule_and_gather_counts_it(tmp_path):
    dag_result = _execute(ProtocolDAG(protocol_units=_silane_units(), transformation_key=None), tmp_path)
    assert not dag_result.ok()

    (failure,) = dag_result.protocol_unit_failures
    assert failure.exception[0] == "ParameterizationError"
    assert "silane" in failure.exception[1][0] and "Si" in failure.exception[1][0]

    gathered = HydrationProtocol(HydrationSettings.fast()).gather([dag_result])
    assert isinstance(gathered, HydrationProtocolResult)
    assert gathered.n_protocol_dag_results == 1
    assert gathered.data["n_failed"] == 1 and gathered.data["repeats"] == []
    assert gathered.get_estimate() is None and gathered.get_uncertainty() is None


def test_protocol_result_gives_quantities_and_round_trips_through_json():
    repeats = [
        {"delta_g_kcal_per_mol": 1.0, "uncertainty_kcal_per_mol": 0.2},
        {"delta_g_kcal_per_mol": 3.0, "uncertainty_kcal_per_mol": 0.2},
    ]
    result = HydrationProtocolResult(n_protocol_dag_results=3, repeats=repeats, n_failed=1)
    text = json.dumps(result.to_dict(), cls=JSON_HANDLER.encoder)
    restored = HydrationProtocolResult.from_dict(json.loads(text, cls=JSON_HANDLER.decoder))
    assert restored.data == result.data and restored.n_protocol_dag_results == 3
    estimate, uncertainty = restored.get_estimate(), restored.get_uncertainty()
    assert isinstance(estimate, Quantity) and estimate.units == unit.kilocalorie_per_mole
    assert estimate.m == pytest.approx(2.0) and uncertainty.m_as("kcal/mol") == pytest.approx(1.0)
    assert estimate.m_as("kJ/mol") == pytest.approx(2.0 * 4.184)
    assert restored.get_individual_estimates() == [
        (1.0 * unit.kilocalorie_per_mole, 0.2 * unit.kilocalorie_per_mole),
        (3.0 * unit.kilocalorie_per_mole, 0.2 * unit.kilocalorie_per_mole),
    ]


def test_extending_needs_a_successful_result(tmp_path, methane_transformation):
    failed = _execute(ProtocolDAG(protocol_units=_silane_units()[:1], transformation_key=None), tmp_path)
    protocol, stateA, stateB = _parts(methane_transformation)
    with pytest.raises(ProtocolValidationError, match="all succeeded"):
        protocol.validate(stateA=stateA, stateB=stateB, mapping=None, extends=failed)
    with pytest.raises(ProtocolValidationError, match="all succeeded"):
        methane_transformation.create(extends=failed)


def test_hydration_free_energy_is_vacuum_minus_solvent():
    delta_g, sigma = hydration_free_energy(2.5, 0.3, 7.5, 0.4)
    assert delta_g == pytest.approx(-5.0) and sigma == pytest.approx(0.5)


def test_combining_repeats():
    assert combine_repeats([1.0], [0.3]) == (1.0, pytest.approx(0.3))
    mean, sigma = combine_repeats([1.0, 3.0], [0.1, 0.1])
    assert mean == pytest.approx(2.0) and sigma == pytest.approx(1.0)  # spread dominates
    mean, sigma = combine_repeats([2.0, 2.0], [0.4, 0.4])
    assert sigma == pytest.approx(math.sqrt(0.32) / 2)  # propagated MBAR error dominates
    with pytest.raises(ValueError, match="no successful"):
        combine_repeats([], [])


def test_mbar_recovers_the_free_energy_of_harmonic_oscillators():
    """Replicas exchanging between harmonic wells u_k(x) = k x²/2: Δf = ½ ln(k_last / k_first)."""
    rng = np.random.default_rng(7)
    spring = np.array([1.0, 1.6, 2.5, 4.0])
    n_iterations, n_states = 400, len(spring)
    replica_states = np.array([rng.permutation(n_states) for _ in range(n_iterations)])
    positions = rng.normal(size=(n_iterations, n_states)) / np.sqrt(spring[replica_states])
    energies = 0.5 * spring[None, None, :] * positions[:, :, None] ** 2
    estimate = mbar_estimate(energies, replica_states)
    expected = 0.5 * math.log(spring[-1] / spring[0])
    assert estimate.delta_f_kt == pytest.approx(expected, abs=4 * estimate.uncertainty_kt + 0.02)
    assert 0.0 < estimate.uncertainty_kt < 0.1
    assert 0.0 < estimate.min_neighbour_overlap < 1.0


def test_cpu_platform_is_always_usable():
    choice = select_platform("CPU", "auto")
    assert choice.name == "CPU" and choice.precision == "native"
    assert select_platform("auto", "auto").name in {"CUDA", "OpenCL", "CPU"}


def test_unusable_platform_is_reported():
    try:
        select_platform("CUDA", "mixed")
    except RuntimeError as error:
        assert "CUDA" in str(error)
    else:
        pytest.skip("CUDA works on this machine")
