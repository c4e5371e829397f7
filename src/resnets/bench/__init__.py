"""Benchmarks against torchvision, timm and the machine's own matrix-multiply peak."""

from .case import Case
from .suite import SuiteConfig, plan, run_case, run_suite, summarise

__all__ = ["Case", "SuiteConfig", "plan", "run_case", "run_suite", "summarise"]
