"""The uplift interval of campaign_effects, in Python: for evaluation by other groupings.

campaign_effects (dbt) reads out campaigns by segment with Newcombe's hybrid score interval
(macros/wilson_interval.sql). Evaluating it against the generator's truth needs the same
interval by planted persona, which the warehouse does not know; this is the same formula,
and a test checks it against the dbt table row by row.
"""

from __future__ import annotations

import numpy as np

Z_95 = 1.959964  # dbt var uplift_confidence_z


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, z: float = Z_95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of successes / trials (trials > 0)."""
    successes, trials = np.asarray(successes, float), np.asarray(trials, float)
    p = successes / trials
    centre = p + z * z / (2 * trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    scale = 1 + z * z / trials
    return (centre - half) / scale, (centre + half) / scale


def uplift_interval(
    treated_conversions: np.ndarray,
    treated: np.ndarray,
    control_conversions: np.ndarray,
    control: np.ndarray,
    z: float = Z_95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uplift, low, high): treatment rate minus control rate with Newcombe's hybrid interval."""
    p1 = np.asarray(treated_conversions, float) / np.asarray(treated, float)
    p0 = np.asarray(control_conversions, float) / np.asarray(control, float)
    low1, high1 = wilson_interval(treated_conversions, treated, z)
    low0, high0 = wilson_interval(control_conversions, control, z)
    uplift = p1 - p0
    low = uplift - np.sqrt((p1 - low1) ** 2 + (high0 - p0) ** 2)
    high = uplift + np.sqrt((high1 - p1) ** 2 + (p0 - low0) ** 2)
    return uplift, low, high
