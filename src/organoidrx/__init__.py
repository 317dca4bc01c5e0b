"""organoidrx: carry drug-response biomarkers from patient-derived organoids to patients.

The method follows Kong et al., "Network-based machine learning in colorectal and bladder organoid models predicts
anti-cancer drug efficacy in patients", Nat Commun 11:5485 (2020), doi:10.1038/s41467-020-19313-8.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
