"""The absolute hydration free-energy Protocol and its result (gufe 0.4 API)."""

from __future__ import annotations

from typing import Any, Iterable, Optional

from gufe import ChemicalSystem, SmallMoleculeComponent
from gufe.protocols import Protocol, ProtocolDAGResult, ProtocolResult, ProtocolUnit

from .analysis import combine_repeats
from .inputs import check_parameterizable, solute_and_solvent
from .settings import HydrationSettings
from .units import HydrationResultUnit, HydrationSetupUnit, SolventLegUnit, VacuumLegUnit

ESTIMATE_UNIT = "kcal/mol"

# Per-DAG numbers a ProtocolResult keeps (final configurations stay out: they are only for extensions).
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
)


class HydrationProtocolResult(ProtocolResult):
    """Hydration free energies of repeated DAGs of one Transformation, combined.

    ``data["repeats"]`` holds one plain dict per successful DAG; ``data["n_failed"]`` counts the DAGs
    that did not finish. Estimates are ΔG_hyd = G(solvated) − G(gas) in kcal/mol.
    """

    @classmethod
    def _from_dict(cls, dct: dict) -> "HydrationProtocolResult":
        # gufe 0.4's ProtocolResult._from_dict would nest everything under a second "data" key.
        return cls(**dct["data"])

    def get_estimate(self) -> Optional[float]:
        """Mean ΔG_hyd over repeats, kcal/mol (None without a successful repeat)."""
        combined = self._combined()
        return None if combined is None else combined[0]

    def get_uncertainty(self) -> Optional[float]:
        """Standard error of that mean, kcal/mol (see ``analysis.combine_repeats``)."""
        combined = self._combined()
        return None if combined is None else combined[1]

    def get_rate_of_convergence(self) -> None:
        """Not estimated by this protocol."""
        return None

    def get_individual_estimates(self) -> list[tuple[float, float]]:
        """(ΔG_hyd, σ) of each repeat, kcal/mol."""
        return [(r["delta_g_kcal_per_mol"], r["uncertainty_kcal_per_mol"]) for r in self.data["repeats"]]

    @property
    def unit(self) -> str:
        return ESTIMATE_UNIT

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

    def __init__(self, settings: HydrationSettings):
        if not isinstance(settings, HydrationSettings):
            raise TypeError(f"HydrationProtocol needs HydrationSettings, got {type(settings).__name__}")
        super().__init__(settings)

    @classmethod
    def _default_settings(cls) -> HydrationSettings:
        return HydrationSettings.production()

    def _to_dict(self) -> dict:
        return {"settings": self.settings.to_json_dict()}

    @classmethod
    def _from_dict(cls, dct: dict) -> "HydrationProtocol":
        return cls(settings=HydrationSettings.from_json_dict(dct["settings"]))

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: Optional[dict] = None,
        extend_from: Optional[ProtocolDAGResult] = None,
    ) -> list[ProtocolUnit]:
        if mapping:
            raise ValueError("a hydration free energy uses no atom mapping; pass mapping=None")
        component, solvent = solute_and_solvent(stateA, stateB)
        check_parameterizable(component)
        settings = self.settings.to_json_dict()

        reuse, vacuum_start, solvent_start = None, None, None
        if extend_from is not None:
            earlier = _earlier_outputs(extend_from, component, self.settings)
            reuse = earlier[HydrationSetupUnit]["parameters"]
            vacuum_start = _final_state(earlier[VacuumLegUnit])
            solvent_start = _final_state(earlier[SolventLegUnit])

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
        repeats, n_failed = [], 0
        for dag_result in protocol_dag_results:
            outputs = _successful_outputs(dag_result)
            if outputs is None or HydrationResultUnit not in outputs:
                n_failed += 1
                continue
            combined = outputs[HydrationResultUnit]
            repeats.append({field: combined[field] for field in REPEAT_FIELDS})
        return {"repeats": repeats, "n_failed": n_failed, "unit": ESTIMATE_UNIT}


def _successful_outputs(dag_result: ProtocolDAGResult) -> Optional[dict[type, dict]]:
    """Outputs by unit class when every unit has a successful result, else None.

    gufe 0.4's ``ProtocolDAGResult.ok()`` is True even when the last unit failed, so check each unit.
    """
    outputs = {}
    for unit in dag_result.protocol_units:
        try:
            result = dag_result.unit_to_result(unit)
        except KeyError:
            return None
        if not result.ok():
            return None
        outputs[type(unit)] = result.outputs
    return outputs


def _earlier_outputs(
    dag_result: ProtocolDAGResult, component: SmallMoleculeComponent, settings: HydrationSettings
) -> dict[type, dict]:
    """The finished DAG an extension continues from, checked to be this calculation's."""
    outputs = _successful_outputs(dag_result)
    needed = (HydrationSetupUnit, VacuumLegUnit, SolventLegUnit)
    if outputs is None or any(kind not in outputs for kind in needed):
        raise ValueError("can only extend from a hydration ProtocolDAGResult whose units all succeeded")
    setup_units = [u for u in dag_result.protocol_units if isinstance(u, HydrationSetupUnit)]
    earlier_component = setup_units[0].inputs["component"]
    if earlier_component != component:
        raise ValueError(
            f"cannot extend: the earlier result is for molecule {earlier_component.name!r}, not {component.name!r}"
        )
    earlier_forcefield = outputs[HydrationSetupUnit]["parameters"]["forcefield"]
    if earlier_forcefield != settings.forcefield:
        raise ValueError(
            f"cannot extend: the earlier result used {earlier_forcefield}, these settings use {settings.forcefield}"
        )
    return outputs


def _final_state(leg_outputs: dict) -> dict:
    return {"positions_nm": leg_outputs["final_positions_nm"], "box_nm": leg_outputs["final_box_nm"]}
