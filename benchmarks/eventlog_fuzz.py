"""Coverage-guided fuzzing of the event-log parser (and the quote/PE parsers) with atheris.

    .venv/bin/python benchmarks/eventlog_fuzz.py [--runs 100000] [--seed 1]

Seeds the corpus with the public third-party event logs when HEATSITE_VECTORS names a testdata
folder holding them (see tests/vectors.py), else with the logs the suite makes itself (the
lab's boots and hand-built edge cases, tests/attestation/eventlog_samples.py). Runs ``--runs``
inputs through ``parse_event_log`` (then replay and payload decoding), and through the TPM2
quote and Authenticode parsers, counting every exception. Prints the count and the exceptions
seen; exits 1 if anything but the parsers' own error types was raised.
"""

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

with atheris.instrument_imports(include=["apps.attestation.tcg"]):
    from apps.attestation.tcg.authenticode import AuthenticodeError, option_rom_images
    from apps.attestation.tcg.eventlog import EventLogError, parse_event_log, replay
    from apps.attestation.tcg.quote import QuoteError, parse_attest, parse_public

EXPECTED_ERRORS = (EventLogError, QuoteError, AuthenticodeError)
seen: collections.Counter[str] = collections.Counter()
state = {"cases": 0, "unexpected": 0, "first": None, "runs": 0, "started": 0.0}


def one_input(data: bytes) -> None:
    state["cases"] += 1
    try:
        log = parse_event_log(data)
        for event in log.events:
            event.summary()
        replay(log)
        seen["ok"] += 1
    except EXPECTED_ERRORS as exc:
        seen[type(exc).__name__] += 1
    except Exception as exc:  # the point: catch anything unexpected
        seen[f"UNEXPECTED {type(exc).__name__}"] += 1
        state["unexpected"] += 1
        state["first"] = state["first"] or (repr(exc), data[:200].hex())
    # The same bytes through the other parsers: they share the bounds-checking discipline.
    for parse in (parse_attest, parse_public, option_rom_images):
        try:
            parse(data)
        except EXPECTED_ERRORS:
            pass
        except Exception as exc:
            seen[f"UNEXPECTED {parse.__name__} {type(exc).__name__}"] += 1
            state["unexpected"] += 1
            state["first"] = state["first"] or (repr(exc), data[:200].hex())
    if state["cases"] == state["runs"]:
        # libFuzzer leaves with a C exit() that skips Python's finally/atexit: report here.
        report(time.monotonic() - state["started"])
        sys.stdout.flush()
        shutil.rmtree(state["corpus"], ignore_errors=True)
        os._exit(1 if state["unexpected"] else 0)


def seed_logs() -> tuple[str, list[bytes]]:
    """(where the seeds come from, the logs)."""
    from tests import vectors

    found = vectors.locate(os.environ.get(vectors.ENV))
    if found is not None:
        names = sorted(found.expected)
        return f"{len(names)} public vector logs", [found.read_log(name) for name in names]
    from tests.attestation.eventlog_samples import samples

    logs = samples()
    return f"{len(logs)} logs of the suite's own (set {vectors.ENV} for the public ones)", [
        s.raw for s in logs
    ]


def seed_corpus(directory: Path) -> None:
    origin, logs = seed_logs()
    print(f"seeds: {origin}")
    for i, raw in enumerate(logs):
        (directory / f"seed{i}").write_bytes(raw[:8192])


def report(elapsed: float) -> None:
    print(f"\ncases run: {state['cases']} in {elapsed:.1f} s ({state['cases'] / elapsed:.0f}/s)")
    for kind, count in seen.most_common():
        print(f"  {kind:40s} {count}")
    print(f"unexpected exceptions: {state['unexpected']}")
    if state["first"]:
        print(f"first unexpected: {state['first'][0]} on input {state['first'][1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    corpus = tempfile.mkdtemp(prefix="eventlog-fuzz-")
    state["corpus"] = corpus
    seed_corpus(Path(corpus))
    argv = [sys.argv[0], f"-runs={args.runs}", f"-seed={args.seed}", "-max_len=16384",
            "-timeout=20", "-rss_limit_mb=4096", corpus]  # fmt: skip
    state["runs"], state["started"] = args.runs, time.monotonic()
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
