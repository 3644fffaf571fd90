"""The command line shared by the component benchmarks (hearing, speaking): run, save JSON + PNG, print."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).resolve().parent / "results"


def component_main(name: str, doc: str, run: Callable[..., dict], plot: Callable[[dict, Path], None]) -> None:
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    ap.add_argument("--out", type=Path, default=RESULTS / f"{name}.json")
    args = ap.parse_args()
    result = run(quick=args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    plot(result, args.out.with_suffix(".png"))
    print(json.dumps(result, indent=2))
