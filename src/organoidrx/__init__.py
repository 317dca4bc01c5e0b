"""organoidrx: carry drug-response biomarkers from patient-derived organoids to patients.

The method follows Kong et al., "Network-based machine learning in colorectal and bladder organoid models predicts
anti-cancer drug efficacy in patients", Nat Commun 11:5485 (2020), doi:10.1038/s41467-020-19313-8.

The subpackages (``io``, ``network``, ``scoring``, ``models``, ``evaluation``, ``report``, ``datasets``,
``pipeline``) are imported on first use, so ``import organoidrx`` stays cheap and ``organoidrx.scoring.ssgsea``
works after it.
"""

from __future__ import annotations

import importlib
from typing import Any

from organoidrx._compute import dask_backend
from organoidrx._registry import Method, Option, get_method, list_methods, method_names, register
from organoidrx._utils import InputError

__version__ = "0.1.0"

_SUBPACKAGES = ("datasets", "evaluation", "io", "models", "network", "pipeline", "report", "scoring")

__all__ = [
    "InputError",
    "Method",
    "Option",
    "__version__",
    "dask_backend",
    "get_method",
    "list_methods",
    "method_names",
    "register",
    *_SUBPACKAGES,
]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"organoidrx.{name}")
    raise AttributeError(f"module 'organoidrx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
