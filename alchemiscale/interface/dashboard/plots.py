"""ΔG per Transformation as inline SVG, drawn on the server: no plotting library, no script."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

ROW_HEIGHT = 22
LABEL_WIDTH = 260
PLOT_WIDTH = 420
PAD = 30


def estimates_svg(transformations: list[dict[str, Any]]) -> Markup:
    """Horizontal bars from zero to each estimate with ± uncertainty whiskers; empty if there are none."""
    rows = [(t["name"] or t["transformation"], t["estimate"]) for t in transformations if t.get("estimate")]
    if not rows:
        return Markup("")
    ends = [e["dg_kcal_per_mol"] + sign * (e["uncertainty_kcal_per_mol"] or 0) for _, e in rows for sign in (-1, 1)]
    low, high = min(0.0, *ends), max(0.0, *ends)
    span = (high - low) or 1.0

    def x(value: float) -> float:
        return LABEL_WIDTH + (value - low) / span * PLOT_WIDTH

    height = PAD + ROW_HEIGHT * len(rows) + PAD
    parts = [
        f'<svg class="plot" role="img" aria-label="ΔG per transformation" width="{LABEL_WIDTH + PLOT_WIDTH + PAD}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{x(0):.1f}" y1="{PAD - 8}" x2="{x(0):.1f}" y2="{height - PAD + 4}" class="axis"/>',
        f'<text x="{x(low):.1f}" y="{height - 8}" class="tick">{low:.2f}</text>',
        f'<text x="{x(high):.1f}" y="{height - 8}" class="tick" text-anchor="end">{high:.2f} kcal/mol</text>',
    ]
    for i, (name, estimate) in enumerate(rows):
        y = PAD + i * ROW_HEIGHT
        dg, err = estimate["dg_kcal_per_mol"], estimate["uncertainty_kcal_per_mol"] or 0.0
        left, right = sorted((x(0), x(dg)))
        label = f"{dg:.2f} ± {err:.2f}"
        parts += [
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" class="label">{escape(name)}</text>',
            f'<rect x="{left:.1f}" y="{y + 4}" width="{max(right - left, 1):.1f}" height="{ROW_HEIGHT - 8}" class="bar">'
            f"<title>{escape(name)}: {label} kcal/mol</title></rect>",
            f'<line x1="{x(dg - err):.1f}" y1="{y + 11}" x2="{x(dg + err):.1f}" y2="{y + 11}" class="whisker"/>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))
