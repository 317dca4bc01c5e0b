"""Split patients into predicted responders and non-responders by a quantile of their predicted response."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from organoidrx._utils import InputError, examples
from organoidrx.evaluation._common import NON_RESPONDER, RESPONDER, as_patient_series

logger = logging.getLogger(__name__)

__all__ = [
    "NON_RESPONDER",
    "RESPONDER",
    "ResponderSplit",
    "assign_groups",
    "prediction_cutoff",
    "responder_mask",
    "split_by_prediction",
]


def prediction_cutoff(predicted: Any, *, quantile: float = 0.5, lower_is_sensitive: bool = True) -> float:
    """The cut-off of :func:`split_by_prediction`: ``Q(quantile)`` (or ``Q(1 - quantile)`` when higher is
    sensitive), the empirical quantile with linear interpolation (``numpy.quantile``, R type 7). Higher-is-sensitive
    takes ``-Q(quantile)`` of the negated predictions: the same value, without the rounding of ``1 - quantile``
    (0.30000000000000004 for 0.7), so that negating the predictions and flipping the direction gives the same
    groups to the last bit."""
    values = np.asarray(predicted, dtype=float)
    return (
        float(np.quantile(values, quantile)) if lower_is_sensitive else -float(np.quantile(-values, quantile))
    )


def responder_mask(predicted: Any, cutoff: float, *, lower_is_sensitive: bool = True) -> np.ndarray:
    """Boolean array: the prediction is on the sensitive side of ``cutoff`` (a tie counts as responder)."""
    values = np.asarray(predicted, dtype=float)
    return values <= cutoff if lower_is_sensitive else values >= cutoff


def assign_groups(predicted: pd.Series, cutoff: float, *, lower_is_sensitive: bool = True) -> pd.Series:
    """Group labels for every patient of ``predicted`` against a fixed ``cutoff`` (e.g. one stored in a bundle)."""
    sensitive = responder_mask(predicted, cutoff, lower_is_sensitive=lower_is_sensitive)
    return pd.Series(
        np.where(sensitive, RESPONDER, NON_RESPONDER), index=predicted.index.copy(), name="group"
    )


def split_by_prediction(
    predicted: Any, *, quantile: float = 0.5, lower_is_sensitive: bool = True
) -> pd.Series:
    """Label patients ``"predicted responder"`` or ``"predicted non-responder"`` from a continuous prediction.

    Parameters
    ----------
    predicted : Series of shape (n_patients,)
        Predicted drug response per patient (index = patient ids), e.g. a predicted IC50 from a model trained on
        organoids. A mapping or 1-d array is accepted too (an array gets positions ``"0", "1", ...`` as ids).
    quantile : float, default=0.5
        Fraction of patients, in (0, 1), expected on the sensitive side of the cut-off; 0.5 is a median split.
    lower_is_sensitive : bool, default=True
        ``True`` when a low prediction means a sensitive tumour (IC50, AUC of a dose-response curve); ``False``
        when a high prediction means sensitive (e.g. a predicted response probability).

    Returns
    -------
    groups : Series of shape (n_patients,)
        String labels, same index and order as ``predicted``, named ``"group"``.

    Raises
    ------
    InputError
        When ``quantile`` is outside (0, 1), a prediction is missing or not finite, or every patient falls on one
        side of the cut-off (e.g. all predictions equal).

    Notes
    -----
    With ``lower_is_sensitive=True`` the cut-off is ``c = Q(quantile)``, the empirical quantile of the
    predictions with linear interpolation (``numpy.quantile``, R type 7), and patient *i* is a predicted
    responder when ``predicted_i <= c``. With ``lower_is_sensitive=False`` the cut-off is ``c = Q(1 - quantile)``
    and responders are those with ``predicted_i >= c``. Ties rule: a prediction exactly equal to the cut-off is
    always put on the sensitive (responder) side, so the rule is deterministic, independent of patient order, and
    negating the predictions while flipping ``lower_is_sensitive`` gives the same groups. With tied predictions
    the responder group can hold more than ``quantile`` of the patients, and so can it with an odd number of
    patients: the median of 5 is the third prediction, which is a responder (3 of 5).

    Examples
    --------
    >>> import pandas as pd
    >>> split_by_prediction(pd.Series([1.0, 2.0, 3.0, 4.0], index=["a", "b", "c", "d"])).tolist()
    ['predicted responder', 'predicted responder', 'predicted non-responder', 'predicted non-responder']
    """
    if not 0.0 < float(quantile) < 1.0:
        raise InputError(f"quantile must be strictly between 0 and 1; got {quantile!r}.")
    values = as_patient_series(predicted, name="predicted", numeric=True)
    if values.empty:
        raise InputError("predicted is empty; pass one prediction per patient.")
    missing = values.index[values.isna()]
    if len(missing):
        raise InputError(
            f"predicted has {len(missing)} missing values (patients {examples(missing)}); "
            "drop those patients or fix the prediction before splitting."
        )
    array = values.to_numpy()
    cutoff = prediction_cutoff(array, quantile=quantile, lower_is_sensitive=lower_is_sensitive)
    sensitive = responder_mask(array, cutoff, lower_is_sensitive=lower_is_sensitive)
    n_sensitive = int(sensitive.sum())
    if n_sensitive in (0, len(array)):
        raise InputError(
            f"all {len(array)} predictions fall on one side of the cut-off {cutoff:g} "
            f"(range {array.min():g} to {array.max():g}); the predictions cannot separate patients."
        )
    logger.info(
        "split %d patients at %s = %g: %d predicted responders, %d predicted non-responders",
        len(array),
        f"quantile {quantile:g}" if lower_is_sensitive else f"quantile {1 - quantile:g}",
        cutoff,
        n_sensitive,
        len(array) - n_sensitive,
    )
    return assign_groups(values, cutoff, lower_is_sensitive=lower_is_sensitive)


class ResponderSplit(BaseEstimator):
    """Predicted responders vs non-responders: a cut-off learned on the treated patients, applied to anyone.

    Parameters
    ----------
    quantile : float, default 0.5
        Fraction of the fitted patients expected on the sensitive side, in (0, 1); 0.5 is a median split (with an
        odd number of patients the median one is a responder, see :func:`split_by_prediction`).
    lower_is_sensitive : bool, default True
        A low prediction means a sensitive tumour (IC50).
    require_both : bool, default True
        :meth:`fit` raises when every fitted patient falls on one side (the split is then meaningless); with
        ``False`` it records that in ``separates_`` instead (what a permutation loop needs).

    Attributes
    ----------
    cutoff_ : float
        The cut-off (see :func:`split_by_prediction` for the rule and its ties).
    n_responders_ : int
        Fitted patients on the sensitive side.
    separates_ : bool
        Both groups are non-empty among the fitted patients.

    Examples
    --------
    >>> import pandas as pd
    >>> split = ResponderSplit().fit(pd.Series([1.0, 2.0, 3.0, 4.0]))
    >>> split.cutoff_, split.transform(pd.Series([0.0, 9.0], index=["new", "other"])).tolist()
    (2.5, ['predicted responder', 'predicted non-responder'])
    """

    def __init__(
        self, quantile: float = 0.5, lower_is_sensitive: bool = True, require_both: bool = True
    ) -> None:
        self.quantile = quantile
        self.lower_is_sensitive = lower_is_sensitive
        self.require_both = require_both

    def fit(self, predicted: Any, y: Any = None) -> ResponderSplit:
        """Learn the cut-off from the predictions of the treated patients."""
        if self.require_both:
            split_by_prediction(predicted, quantile=self.quantile, lower_is_sensitive=self.lower_is_sensitive)
        elif not 0.0 < float(self.quantile) < 1.0:
            raise InputError(f"quantile must be strictly between 0 and 1; got {self.quantile!r}.")
        values = np.asarray(predicted, dtype=float)
        self.cutoff_ = prediction_cutoff(
            values, quantile=self.quantile, lower_is_sensitive=self.lower_is_sensitive
        )
        mask = responder_mask(values, self.cutoff_, lower_is_sensitive=self.lower_is_sensitive)
        self.n_responders_ = int(mask.sum())
        self.separates_ = 0 < self.n_responders_ < len(values)
        return self

    def responders(self, predicted: Any) -> np.ndarray:
        """Boolean array: on the sensitive side of ``cutoff_``."""
        check_is_fitted(self, "cutoff_")
        return responder_mask(predicted, self.cutoff_, lower_is_sensitive=self.lower_is_sensitive)

    def transform(self, predicted: pd.Series) -> pd.Series:
        """Group labels (``"predicted responder"`` / ``"predicted non-responder"``), same index as ``predicted``."""
        check_is_fitted(self, "cutoff_")
        if not isinstance(predicted, pd.Series):
            predicted = pd.Series(np.asarray(predicted, dtype=float))
        return assign_groups(predicted, self.cutoff_, lower_is_sensitive=self.lower_is_sensitive)
