"""Run the enabled detectors on one `Case` (the bench and the tests call this directly), applying the settings'
scores and threshold: `{detector name: (score, reasons)}`, only detectors with an opinion.
"""

from __future__ import annotations

from lynex_detectors import checks
from lynex_detectors.case import Case
from lynex_detectors.settings import Settings


def run_case(case: Case, s: Settings, only: tuple[str, ...] | None = None) -> dict[str, tuple[float, list[str]]]:
    out: dict[str, tuple[float, list[str]]] = {}
    for name in s.enabled if only is None else only:
        if name == "grounding":
            found = checks.grounding(case, s.grounding_min_prompt_chars)
        elif name == "citations":
            found = checks.citations(case)
        elif name == "refusal":
            found = checks.refusal(case, s.refusal_score, s.uncertainty_score)
        elif name == "completeness":
            found = checks.completeness(case, s.empty_score, s.truncated_score)
        elif name == "language":
            found = checks.language(case, s.language_score)
        else:
            found = checks.json_output(case, s.invalid_json_score)
        if found is None:
            continue
        score, reasons = found
        out[name] = (score, reasons) if score >= s.threshold else (0.0, [])
    return out


def codes(found: dict[str, tuple[float, list[str]]]) -> set[str]:
    """The reason codes of a run (`code: excerpt` -> `code`)."""
    return {reason.split(":", 1)[0] for _, reasons in found.values() for reason in reasons}
