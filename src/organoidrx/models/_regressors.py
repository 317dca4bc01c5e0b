"""Response models: the linear regressors :class:`~organoidrx.models.DrugResponseModel` can fit, registered by name.

Each is registered with ``func(*, alphas, cv, random_state) -> regressor``: an unfitted scikit-learn regressor
that has ``coef_`` and ``intercept_`` after ``fit`` (the kernel model, which has no ``coef_`` for a non-linear
kernel, is in ``_kernel.py``). ``alphas`` (penalty grid) and ``cv`` (internal
cross-validation) are ``None`` unless the user sets them; a model that has no use for them ignores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.linear_model import ElasticNetCV, LinearRegression, RidgeCV
from sklearn.svm import SVR

from organoidrx._registry import Method, register

__all__: list[str] = []

_SKLEARN = "Pedregosa F. et al. (2011) J Mach Learn Res 12:2825-2830 (scikit-learn)"


def _ridge(*, alphas: Sequence[float] | None, cv: Any, random_state: int) -> RidgeCV:
    # a list: scikit-learn writes a single penalty back into alphas[0], which a tuple refuses
    return RidgeCV(alphas=[0.1, 1.0, 10.0] if alphas is None else [float(a) for a in alphas], cv=cv)


def _svr(*, alphas: Sequence[float] | None, cv: Any, random_state: int) -> SVR:
    return SVR(kernel="linear")


def _linear(*, alphas: Sequence[float] | None, cv: Any, random_state: int) -> LinearRegression:
    return LinearRegression()


def _elasticnet(*, alphas: Sequence[float] | None, cv: Any, random_state: int) -> ElasticNetCV:
    kwargs: dict[str, Any] = {"cv": 5 if cv is None else cv}
    if alphas is not None:
        kwargs["alphas"] = list(alphas)
    return ElasticNetCV(random_state=random_state, **kwargs)


RIDGE = register(
    Method(
        kind="model",
        name="ridge",
        summary="ridge regression, penalty chosen over alphas (default 0.1, 1, 10) by efficient leave-one-out",
        reference="Hoerl A. E., Kennard R. W. (1970) Technometrics 12:55-67, doi:10.1080/00401706.1970.10488634",
        func=_ridge,
        attrs={"cv_seconds": 2e-4, "topk_cv_seconds": 2e-3},
    )
)
SVR_LINEAR = register(
    Method(
        kind="model",
        name="svr",
        summary="linear support vector regression (epsilon-insensitive loss, C = 1)",
        reference="Drucker H. et al. (1997) Adv Neural Inf Process Syst 9:155-161",
        func=_svr,
        attrs={"cv_seconds": 2e-3, "topk_cv_seconds": 4e-3},
    )
)
LINEAR = register(
    Method(
        kind="model",
        name="linear",
        summary="least squares (minimum-norm solution when there are more pathways than organoids)",
        reference=_SKLEARN,
        func=_linear,
        attrs={"cv_seconds": 3.5e-4, "topk_cv_seconds": 2e-3},
    )
)
ELASTICNET = register(
    Method(
        kind="model",
        name="elasticnet",
        summary="elastic net (l1_ratio 0.5), penalty chosen by 5-fold cross-validation",
        reference="Zou H., Hastie T. (2005) J R Stat Soc B 67:301-320, doi:10.1111/j.1467-9868.2005.00503.x",
        func=_elasticnet,
        deterministic=False,
        attrs={"cv_seconds": 0.44, "topk_cv_seconds": 2.2},
    )
)
