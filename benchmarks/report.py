"""Time the run report for 16 drugs: figures drawn in this process vs in two forked workers, in one run.

Two cohorts, each run once through the pipeline without a report, then reported repeatedly:

- a seeded synthetic cohort with 16 drugs and patients (Kaplan-Meier, forest plot, proximity, organoid CV);
- the Kong et al. colorectal organoids with 16 drugs on STRING > 700 and 674 Reactome sets (preclinical:
  proximity and organoid CV), when ../shared/data is present.

    .venv/bin/python benchmarks/report.py             # both cohorts, 3 repeats each
    .venv/bin/python benchmarks/report.py --repeats 5 --skip-kong

The figures are the same bytes whatever the number of workers (checked here too).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from organoidrx.datasets import make_synthetic_cohort
from organoidrx.pipeline import run_pipeline
from organoidrx.report import write_run_report

KONG_DRUGS = [
    "5-Fluorouracil", "Cisplatin", "Irinotecan", "Gemcitabine", "Axitinib", "Bortezomib", "Camptothecin",
    "Nilotinib", "JQ1", "MK-2206", "Sorafenib", "Vorinostat", "Embelin", "Fulvestrant", "Lenalidomide", "RO-3306",
]  # fmt: skip


def _report_arguments(result) -> dict:
    return {
        "parameters": {"benchmark": "report"},
        "proximity": result.proximity,
        "biomarkers": result.biomarkers,
        "organoid_cv": result.organoid_cv,
        "cv_predictions": result.cv_predictions,
        "patient_predictions": result.patient_predictions,
        "survival": result.survival,
        "survival_results": result.survival_results or None,
        "interactions": result.interactions or None,
        "response_auc": result.response_auc or None,
        "warnings": result.warnings,
        "primary_feature_set": "proximal",
    }


def time_report(name: str, result, repeats: int, root: Path) -> None:
    arguments = _report_arguments(result)
    outputs = {}
    for jobs in (1, 2):
        seconds = []
        for repeat in range(repeats):
            out = root / f"{name}-{jobs}-{repeat}"
            tic = time.perf_counter()
            write_run_report(out, n_jobs=jobs, **arguments)
            seconds.append(time.perf_counter() - tic)
        outputs[jobs] = out
        figures = len(list(out.glob("*.png")))
        print(
            f"{name}: {len(result.bundles)} drugs, {figures} figures, n_jobs={jobs}: "
            f"best {min(seconds):.2f} s, median {sorted(seconds)[len(seconds) // 2]:.2f} s over {repeats} runs"
        )
    same = all(
        (outputs[1] / p.name).read_bytes() == p.read_bytes() for p in outputs[2].iterdir() if p.is_file()
    )
    print(f"{name}: figures and report.html identical with 1 and 2 workers: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-kong", action="store_true")
    parser.add_argument("--shared-data", default=os.environ.get("ORGANOIDRX_SHARED_DATA", "../shared/data"))
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        drugs = [f"DRUG_{chr(65 + i)}" for i in range(16)]
        cohort = make_synthetic_cohort(n_patients_treated=800, drugs=drugs, random_state=0)
        paths = cohort.write(root / "synthetic")
        result = run_pipeline(paths["config"], root / "synthetic-run", report=False, n_permutations=0)
        time_report("synthetic with patients", result, args.repeats, root)
        config = Path(__file__).resolve().parent.parent / "examples" / "kong2020_coad" / "config.toml"
        shared = Path(args.shared_data).resolve()
        if args.skip_kong or not (shared / "kong2020").is_dir():
            print(f"Kong et al.: skipped ({'--skip-kong' if args.skip_kong else f'no data in {shared}'})")
            return
        text = config.read_text(encoding="utf-8").replace("../../../shared/data", str(shared))
        text = re.sub(r"(?m)^names = .*$", "names = [" + ", ".join(f'"{d}"' for d in KONG_DRUGS) + "]", text)
        (root / "kong.toml").write_text(text, encoding="utf-8")
        result = run_pipeline(root / "kong.toml", root / "kong-run", report=False)
        time_report("Kong et al. organoids", result, args.repeats, root)


if __name__ == "__main__":
    main()
