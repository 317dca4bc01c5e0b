"""The end-to-end run: configuration, orchestration of every step, output files and report."""

from organoidrx.pipeline._compare import compare_methods
from organoidrx.pipeline._config import PipelineConfig, read_config
from organoidrx.pipeline._leaderboard import CompareResult
from organoidrx.pipeline._predict import predict_with_bundle
from organoidrx.pipeline._run import RunResult, run_pipeline
from organoidrx.pipeline._train import train_bundles

__all__ = [
    "CompareResult",
    "PipelineConfig",
    "RunResult",
    "compare_methods",
    "predict_with_bundle",
    "read_config",
    "run_pipeline",
    "train_bundles",
]
