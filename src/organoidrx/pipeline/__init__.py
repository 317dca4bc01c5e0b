"""The end-to-end run: configuration, orchestration of every step, output files and report."""

from organoidrx.pipeline._config import PipelineConfig, read_config

__all__ = ["PipelineConfig", "read_config"]
