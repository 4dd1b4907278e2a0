"""Metrics, benchmarks and reports."""
from .benchmark import BatchEvent, Benchmark
from .metrics import ZeroShotAccuracy
from .results import BenchmarkResult, read_results, write_results
from .retrieval import retrieval_recall
from .spec import PRESETS, BenchmarkSpec, DatasetSpec, benchmark_spec
from .tasks import Summary, Task, TaskSetup

__all__ = ["BatchEvent", "Benchmark", "BenchmarkResult", "BenchmarkSpec", "DatasetSpec", "PRESETS", "Summary", "Task",
           "TaskSetup", "ZeroShotAccuracy", "benchmark_spec", "read_results", "retrieval_recall", "write_results"]
