"""scikit-learn compatible estimators fitted on preclinical (organoid) data."""

__all__: list[str] = []
