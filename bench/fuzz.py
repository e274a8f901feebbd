"""Long fuzzing campaigns of one decoder: coverage-guided with atheris, else a hypothesis-driven loop.

    python bench/fuzz.py native -max_total_time=600          # atheris (libFuzzer flags after the target)
    python bench/fuzz.py wal corpus/wal -max_total_time=3600 # keep and grow a corpus directory
    python bench/fuzz.py otlp --seconds 300 --hypothesis     # no atheris: random and mutated inputs

Targets (tests/fuzz_targets.py, the same ones the test run fuzzes briefly): native, otlp, langfuse, wal, config,
cursor. An input that makes a target raise anything but its decoder's declared error is a crash: atheris writes it
to `crash-<sha1>` in the working directory; the hypothesis loop prints the shrunk input and writes it the same way.
Reproduce one with `python bench/fuzz.py TARGET crash-<sha1>`. The hypothesis loop prints one JSON summary line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _atheris(target: str, argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["lynex_box"]):
        from tests import fuzz_targets

        check = fuzz_targets.TARGETS[target]
        for seed in fuzz_targets.seeds(target):
            check(seed)  # imports what the target imports lazily (the pipeline's decoders), instrumented too
    if not any(not a.startswith("-") for a in argv) and not any(os.path.isfile(a) for a in argv):
        corpus = Path(tempfile.mkdtemp(prefix=f"lynex-fuzz-{target}-"))  # seed a fresh corpus with valid inputs
        for i, seed in enumerate(fuzz_targets.seeds(target)):
            (corpus / f"seed-{i}").write_bytes(seed)
        argv = [*argv, str(corpus)]
    elif any(os.path.isdir(a) for a in argv):
        corpus = next(Path(a) for a in argv if os.path.isdir(a))
        for i, seed in enumerate(fuzz_targets.seeds(target)):
            (corpus / f"seed-{i}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *argv], check)
    atheris.Fuzz()  # libFuzzer prints its own statistics and exits


def _hypothesis(target: str, seconds: float, max_size: int) -> int:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from tests import fuzz_targets

    check = fuzz_targets.TARGETS[target]
    seeds = fuzz_targets.seeds(target)

    def mutate(seed: bytes, edits: list[tuple[int, bytes, int]]) -> bytes:
        data = seed
        for position, patch, cut in edits:
            position %= max(1, len(data))
            data = data[:position] + patch + data[position + cut :]
        return data[:max_size]

    inputs = st.binary(max_size=max_size) | st.builds(
        mutate,
        st.sampled_from(seeds),
        st.lists(st.tuples(st.integers(0, 1 << 20), st.binary(max_size=8), st.integers(0, 8)), max_size=6),
    )
    found: list[bytes] = []

    @settings(
        max_examples=2000,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def run(data: bytes) -> None:
        try:
            check(data)
        except Exception:
            found[:] = [data]
            raise

    started, rounds, crashes = time.monotonic(), 0, 0
    while time.monotonic() - started < seconds:
        rounds += 1
        try:
            run()
        except Exception:
            crashes += 1
            name = "crash-" + hashlib.sha1(found[0]).hexdigest()
            Path(name).write_bytes(found[0])
            print(f"{name}: {found[0][:200]!r}", file=sys.stderr)
            traceback.print_exc()
    summary = {"target": target, "engine": "hypothesis", "seconds": round(time.monotonic() - started),
               "examples": rounds * 2000, "crashes": crashes}  # fmt: skip
    print(json.dumps(summary))
    return 1 if crashes else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", choices=["native", "otlp", "langfuse", "wal", "config", "cursor"])
    ap.add_argument("--hypothesis", action="store_true", help="use the hypothesis loop even if atheris is installed")
    ap.add_argument("--seconds", type=float, default=300.0, help="hypothesis loop: how long to run")
    ap.add_argument("--max-size", type=int, default=4096, help="hypothesis loop: largest input in bytes")
    args, rest = ap.parse_known_args()
    if len(rest) == 1 and os.path.isfile(rest[0]):  # reproduce one crash file
        from tests import fuzz_targets

        fuzz_targets.TARGETS[args.target](Path(rest[0]).read_bytes())
        print(json.dumps({"target": args.target, "input": rest[0], "result": "no crash"}))
        return
    if not args.hypothesis:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris is not installed (pip install atheris): using the hypothesis loop", file=sys.stderr)
        else:
            _atheris(args.target, rest)
            return
    sys.exit(_hypothesis(args.target, args.seconds, args.max_size))


if __name__ == "__main__":
    main()
