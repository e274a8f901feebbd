"""Precision and recall of each hallucination-risk and quality detector of the `detectors` plugin
(plugins/lynex-detectors) over its labelled set (plugins/lynex-detectors/tests/data/labelled.jsonl), calling the
detectors directly, no server. Prints one JSON object: per detector and per reason code `precision`, `recall`,
true/false positives and false negatives, and the cases where the codes found differ from the expected ones; under
`heldout`, the same for the held-out set (tests/data/heldout.jsonl: cases written after the detectors were tuned,
never used to tune them), which says more about how they do on data they were not fitted to.
Needs the plugin installed (`pip install -e plugins/lynex-detectors`) or its src/ on the path.

    python bench/detectors.py
    python bench/detectors.py --labelled other.jsonl --threshold 0.5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "lynex-detectors" / "src"))
from lynex_detectors.evaluate import HELDOUT, LABELLED, evaluate, load
from lynex_detectors.settings import validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labelled", type=Path, default=LABELLED, help="JSON lines of labelled cases")
    parser.add_argument("--threshold", type=float, default=None, help="[plugins.detectors] threshold")
    args = parser.parse_args()
    config = {} if args.threshold is None else {"threshold": args.threshold}
    settings = validate(config)
    report = evaluate(load(args.labelled), settings)
    report["heldout"] = evaluate(load(HELDOUT), settings)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
