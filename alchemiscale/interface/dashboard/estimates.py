"""Free-energy estimates read straight from ProtocolDAGResult keyed chains, without gufe.

The servers never import gufe, so the dashboard cannot call a Protocol's ``gather``. It recognizes
the two shapes of estimate found in ProtocolUnitResult ``outputs``:

- the built-in hydration protocol's plain floats ``delta_g_kcal_per_mol`` and
  ``uncertainty_kcal_per_mol``;
- openfe's ``unit_estimate`` and ``unit_estimate_error``, stored with gufe's Quantity codec
  (``{":is_custom:": true, "magnitude": ..., "unit": "kilocalorie / mole", ...}``), in kcal/mol
  or kJ/mol.

A result holding several such units (openfe's repeats) gives their mean, with the standard
deviation of the repeats as uncertainty, as openfe's own results do; a single unit gives its own
uncertainty. Anything else (unknown protocols, other units) gives no estimate rather than a guess.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Optional

KCAL_PER_UNIT = {
    "kilocalorie / mole": 1.0,
    "kilocalorie_per_mole": 1.0,
    "kcal / mol": 1.0,
    "kilojoule / mole": 1 / 4.184,
    "kilojoule_per_mole": 1 / 4.184,
    "kJ / mol": 1 / 4.184,
}


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _kcal_per_mol(value: Any) -> Optional[float]:
    """A Quantity codec dict of an energy per mole, in kcal/mol; None for anything else."""
    if not isinstance(value, dict) or not value.get(":is_custom:"):
        return None
    factor = KCAL_PER_UNIT.get(str(value.get("unit")))
    magnitude = _number(value.get("magnitude"))
    return magnitude * factor if factor is not None and magnitude is not None else None


def unit_estimate(outputs: dict) -> Optional[tuple[float, Optional[float]]]:
    """``(ΔG, uncertainty)`` in kcal/mol from one ProtocolUnitResult's outputs, if recognizable."""
    estimate = _number(outputs.get("delta_g_kcal_per_mol"))
    if estimate is not None:
        return estimate, _number(outputs.get("uncertainty_kcal_per_mol"))
    estimate = _kcal_per_mol(outputs.get("unit_estimate"))
    if estimate is not None:
        return estimate, _kcal_per_mol(outputs.get("unit_estimate_error"))
    return None


def extract_estimate(chain_json: list) -> Optional[dict[str, Any]]:
    """``{"dg_kcal_per_mol", "uncertainty_kcal_per_mol", "n_units"}`` of a ProtocolDAGResult keyed chain,
    or None when none of its successful unit results carries a recognizable estimate."""
    found = []
    for entry in chain_json:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict)):
            continue
        keyed_dict = entry[1]
        outputs = keyed_dict.get("outputs")
        if isinstance(outputs, dict) and "traceback" not in keyed_dict:
            estimate = unit_estimate(outputs)
            if estimate is not None:
                found.append(estimate)
    if not found:
        return None
    if len(found) == 1:
        dg, uncertainty = found[0]
    else:
        values = [dg for dg, _ in found]
        dg, uncertainty = statistics.fmean(values), statistics.stdev(values)
    return {"dg_kcal_per_mol": dg, "uncertainty_kcal_per_mol": uncertainty, "n_units": len(found)}
