"""The absolute hydration free-energy Protocol and its result."""

from __future__ import annotations

from typing import Any, Iterable, Optional

from gufe import ChemicalSystem, ComponentMapping, SmallMoleculeComponent, SolventComponent
from gufe.protocols import Protocol, ProtocolDAGResult, ProtocolResult, ProtocolUnit, ProtocolValidationError
from openff.units import Quantity, unit

from .analysis import combine_repeats
from .inputs import check_parameterizable, solute_and_solvent
from .settings import HydrationSettings
from .units import HydrationResultUnit, HydrationSetupUnit, SolventLegUnit, VacuumLegUnit

ESTIMATE_UNIT = unit.kilocalorie_per_mole

# Per-DAG numbers a ProtocolResult keeps (continuation states and samples stay out: they are only for extensions).
REPEAT_FIELDS = (
    "delta_g_kcal_per_mol",
    "uncertainty_kcal_per_mol",
    "vacuum_delta_g_kcal_per_mol",
    "vacuum_uncertainty_kcal_per_mol",
    "solvent_delta_g_kcal_per_mol",
    "solvent_uncertainty_kcal_per_mol",
    "min_neighbour_overlap",
    "simulated_ns",
    "wall_time_s",
    "vacuum_ns_per_day",
    "solvent_ns_per_day",
    "platform",
    "n_atoms_vacuum",
    "n_atoms_solvent",
    "vacuum_uncorrelated_samples_per_state",
    "solvent_uncorrelated_samples_per_state",
    "min_uncorrelated_samples",
    "low_sample_warning",
)


class HydrationProtocolResult(ProtocolResult):
    """Hydration free energies of repeated DAGs of one Transformation, combined.

    ``data["repeats"]`` holds one plain dict per independent repeat (numbers in the units their names give):
    an extension chain is one repeat, whose last successful DAG already pools the samples of those it extends.
    ``data["n_failed"]`` counts the DAGs that did not finish, ``data["n_duplicates"]`` results passed more
    than once (counted once) and ``data["n_extended"]`` results folded into an extension of them.
    Estimates are ΔG_hyd = G(solvated) − G(gas). Each repeat reports its uncorrelated samples per window
    and ``low_sample_warning`` (fewer than ``analysis.MIN_UNCORRELATED_SAMPLES`` in some window), and so
    does the result as a whole (:attr:`low_sample_warning`).
    """

    def get_estimate(self) -> Optional[Quantity]:
        """Mean ΔG_hyd over repeats in kcal/mol (None without a successful repeat)."""
        combined = self._combined()
        return None if combined is None else combined[0] * ESTIMATE_UNIT

    def get_uncertainty(self) -> Optional[Quantity]:
        """Standard error of that mean in kcal/mol (see ``analysis.combine_repeats``)."""
        combined = self._combined()
        return None if combined is None else combined[1] * ESTIMATE_UNIT

    def get_rate_of_convergence(self) -> None:
        """Not estimated by this protocol."""
        return None

    def get_individual_estimates(self) -> list[tuple[Quantity, Quantity]]:
        """(ΔG_hyd, σ) of each repeat in kcal/mol."""
        return [
            (r["delta_g_kcal_per_mol"] * ESTIMATE_UNIT, r["uncertainty_kcal_per_mol"] * ESTIMATE_UNIT)
            for r in self.data["repeats"]
        ]

    @property
    def low_sample_warning(self) -> bool:
        """Some repeat's estimate rests on a window with fewer than about 20 uncorrelated samples."""
        return any(r["low_sample_warning"] for r in self.data.get("repeats", []))

    def _combined(self) -> Optional[tuple[float, float]]:
        repeats = self.data.get("repeats", [])
        if not repeats:
            return None
        return combine_repeats(
            [r["delta_g_kcal_per_mol"] for r in repeats], [r["uncertainty_kcal_per_mol"] for r in repeats]
        )


class HydrationProtocol(Protocol):
    """Absolute hydration free energy of one small molecule in TIP3P water.

    stateA = {molecule, water}, stateB = {water}. The molecule is decoupled from its surroundings in
    water and in vacuum (GAFF + AM1-BCC, Hamiltonian replica exchange, MBAR); the estimate reported
    is the hydration free energy ΔG_hyd = ΔG_vacuum − ΔG_solvent.
    """

    result_cls = HydrationProtocolResult
    _settings_cls = HydrationSettings

    def __init__(self, settings: HydrationSettings):
        # Sections edited in place (gufe's idiom: change the default settings, then build the Protocol)
        # validate only themselves; a validated copy also checks the rules that span sections.
        if isinstance(settings, HydrationSettings):
            settings = settings.with_changes()
        super().__init__(settings)

    @classmethod
    def _default_settings(cls) -> HydrationSettings:
        return HydrationSettings.production()

    def _validate(
        self,
        *,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: Optional[ComponentMapping | list[ComponentMapping]],
        extends: Optional[ProtocolDAGResult] = None,
    ) -> None:
        self._checked_inputs(stateA, stateB, mapping, extends)

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: Optional[ComponentMapping | list[ComponentMapping]] = None,
        extends: Optional[ProtocolDAGResult] = None,
    ) -> list[ProtocolUnit]:
        component, solvent, earlier = self._checked_inputs(stateA, stateB, mapping, extends)
        reuse, vacuum_start, solvent_start = None, None, None
        if earlier is not None:
            reuse = earlier[HydrationSetupUnit]["parameters"]
            vacuum_start = earlier[VacuumLegUnit]["continuation"]
            solvent_start = earlier[SolventLegUnit]["continuation"]

        settings = self.settings
        label = component.name or component.smiles
        setup = HydrationSetupUnit(name=f"setup ({label})", component=component, settings=settings, reuse=reuse)
        vacuum = VacuumLegUnit(
            name=f"vacuum leg ({label})",
            setup=setup,
            component=component,
            solvent=solvent,
            settings=settings,
            start=vacuum_start,
        )
        water = SolventLegUnit(
            name=f"solvent leg ({label})",
            setup=setup,
            component=component,
            solvent=solvent,
            settings=settings,
            start=solvent_start,
        )
        result = HydrationResultUnit(name=f"hydration free energy ({label})", vacuum=vacuum, solvent=water)
        return [setup, vacuum, water, result]

    def _gather(self, protocol_dag_results: Iterable[ProtocolDAGResult]) -> dict[str, Any]:
        given = list(protocol_dag_results)
        distinct = {dag_result.key: dag_result for dag_result in given}
        # A successful extension pools its parent's samples, so the parent is no repeat of its own.
        extended = {r.extends_key for r in distinct.values() if r.extends_key is not None and r.ok()}
        repeats, n_failed, n_extended = [], 0, 0
        for key, dag_result in distinct.items():
            outputs = _outputs_by_unit_class(dag_result) if dag_result.ok() else {}
            if HydrationResultUnit not in outputs:
                n_failed += 1
            elif key in extended:
                n_extended += 1
            else:
                combined = outputs[HydrationResultUnit]
                repeats.append({field: combined[field] for field in REPEAT_FIELDS})
        return {
            "repeats": repeats,
            "n_failed": n_failed,
            "n_duplicates": len(given) - len(distinct),
            "n_extended": n_extended,
        }

    def _checked_inputs(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: Optional[ComponentMapping | list[ComponentMapping]],
        extends: Optional[ProtocolDAGResult],
    ) -> tuple[SmallMoleculeComponent, SolventComponent, Optional[dict[type, dict]]]:
        """The molecule, the water and, when extending, the earlier DAG's outputs by unit class.

        Raises a ProtocolValidationError (HydrationInputError, ParameterizationError among them) naming
        what is wrong.
        """
        if mapping:
            raise ProtocolValidationError("a hydration free energy uses no atom mapping; pass mapping=None")
        component, solvent = solute_and_solvent(stateA, stateB)
        check_parameterizable(component)
        earlier = None if extends is None else _earlier_outputs(extends, component, self.settings)
        return component, solvent, earlier


def _outputs_by_unit_class(dag_result: ProtocolDAGResult) -> dict[type, dict]:
    """Outputs of each unit's successful result, by unit class (the DAG must be ``ok()``)."""
    return {type(unit): dag_result.unit_to_result(unit).outputs for unit in dag_result.protocol_units}


def _earlier_outputs(
    dag_result: ProtocolDAGResult, component: SmallMoleculeComponent, settings: HydrationSettings
) -> dict[type, dict]:
    """The finished DAG an extension continues from, checked to be this calculation's."""
    outputs = _outputs_by_unit_class(dag_result) if dag_result.ok() else {}
    if any(kind not in outputs for kind in (HydrationSetupUnit, VacuumLegUnit, SolventLegUnit)):
        raise ProtocolValidationError("can only extend from a hydration ProtocolDAGResult whose units all succeeded")
    setup_units = [u for u in dag_result.protocol_units if isinstance(u, HydrationSetupUnit)]
    earlier_component = setup_units[0].inputs["component"]
    if earlier_component != component:
        raise ProtocolValidationError(
            f"cannot extend: the earlier result is for molecule {earlier_component.name!r}, not {component.name!r}"
        )
    earlier_forcefield = outputs[HydrationSetupUnit]["parameters"]["forcefield"]
    forcefield = settings.forcefield_settings.small_molecule_forcefield
    if earlier_forcefield != forcefield:
        raise ProtocolValidationError(
            f"cannot extend: the earlier result used {earlier_forcefield}, these settings use {forcefield}"
        )
    _check_same_ensemble(setup_units[0].inputs["settings"], settings)
    return outputs


# Settings an extension must share with the result it extends: its samples pool with the earlier ones,
# so they must come from the same windows, ensemble and dynamics.
CONTINUATION_SETTINGS = (
    ("lambda_settings", "lambda_electrostatics"),
    ("lambda_settings", "lambda_sterics"),
    ("thermo_settings", "temperature"),
    ("thermo_settings", "pressure"),
    ("forcefield_settings", "small_molecule_forcefield"),
    ("forcefield_settings", "nonbonded_cutoff"),
    ("integrator_settings", "timestep"),
)


def _check_same_ensemble(earlier: HydrationSettings, settings: HydrationSettings) -> None:
    """Refuse an extension whose samples could not pool with the earlier result's, naming the setting."""
    for section, field in CONTINUATION_SETTINGS:
        before, now = getattr(getattr(earlier, section), field), getattr(getattr(settings, section), field)
        if before != now:
            raise ProtocolValidationError(
                f"cannot extend: {section}.{field} differs (the earlier result used {_shown(before)}, "
                f"these settings use {_shown(now)}); an extension pools its samples with the earlier ones, "
                "so it needs the same value"
            )


def _shown(value: Any) -> str:
    return f"{value:~}" if isinstance(value, Quantity) else str(list(value) if isinstance(value, tuple) else value)
