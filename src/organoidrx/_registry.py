"""Method registries: every pathway scorer, network measure, alignment and response model, keyed by name.

A method is one module that builds a :class:`Method` (its name, one-line summary, reference, options with their
types, defaults and allowed values, and whether it is deterministic) and hands it to :func:`register`. The config
reader, the command-line choices, ``organoidrx methods``, model bundles and the report read these records and keep
no list of their own, so a method registered here is usable everywhere.

The four kinds and the callable each ``Method.func`` must be:

``"scorer"``
    ``func(data: ScoringInput, **options) -> ndarray of shape (n_samples, n_sets)``: per-sample pathway scores of
    the validated matrix in ``data`` (see :class:`organoidrx.scoring.ScoringInput`); the shared runner
    :func:`organoidrx.scoring.score` validates, restricts gene sets and labels the result.
``"measure"``
    ``func(view: DistanceView) -> (numerator, denominator)``, arrays of shape (n_pathways, n_drugs) whose ratio is
    the distance of every pathway to every drug's targets (see :class:`organoidrx.network.DistanceView`); the
    runner :func:`organoidrx.network.proximity` draws the degree-preserving null and the z-scores.
    Optional ``attrs``: ``prepare(setup, **options) -> Preparation`` (run once per call: precomputed state for
    ``view.state``, or replaced target sets), ``null="targets"`` (draw random targets only) and
    ``higher_is_closer=True``; see :data:`organoidrx.network.MEASURE_ATTRS`. The measure's options go to
    ``prepare``.
``"alignment"``
    ``func(scores, organoids, *, mean, scale, **options) -> DataFrame``: a patient cohort's pathway scores on the
    standardised scale the organoid model sees, same columns (see :func:`organoidrx.models.align_cohort`; the
    options are the ``[alignment]`` section, stored in bundles as ``alignment_options``). Optional ``attrs``:
    ``min_samples``, and ``refit_predict(regressor, scores, organoids, response, *, mean, scale, **options) ->
    ndarray`` with an option ``refit``: when it is true, :func:`organoidrx.models.predict_cohort` refits the
    organoid regressor through it instead of applying the fitted one (see
    :func:`organoidrx.models.precise_refit_predict`).
``"model"``
    ``func(*, alphas, cv, random_state, **options) -> regressor``: an unfitted scikit-learn regressor with
    ``intercept_`` and either ``coef_`` (linear) or, after ``fit``, ``partial_derivatives(X)`` (to rank
    pathways) and a kernel expansion ``X_fit_``, ``dual_coef_``, ``kernel``, ``gamma_``, ``degree``,
    ``coef0`` that bundles replay (see :class:`organoidrx.models.DrugResponseModel`,
    :class:`organoidrx.models.KernelRidgeLOO`). Optional ``attrs``: ``cv_seconds``, the seconds one random set of
    one drug costs in the leave-one-out cross-validation of ``compare`` on about 19 organoids (its work guard's
    estimate, from ``benchmarks/crossval.py``; default 0.01), and ``topk_cv_seconds``, the same with the top 10 of
    80 pathways kept and refitted in every fold, as ``run`` tests its model (default ``cv_seconds``).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from organoidrx._utils import InputError

__all__ = [
    "KINDS",
    "Kind",
    "Method",
    "Option",
    "Registry",
    "get_method",
    "list_methods",
    "method_names",
    "register",
    "suggest",
]

Kind = Literal["scorer", "measure", "alignment", "model"]
KINDS: tuple[str, ...] = get_args(Kind)

# the modules whose import registers the built-in methods of each kind
_BUILTINS = {
    "scorer": "organoidrx.scoring",
    "measure": "organoidrx.network",
    "alignment": "organoidrx.models",
    "model": "organoidrx.models",
}


def suggest(word: str, options: list[str] | tuple[str, ...], *, known: bool = True) -> str:
    """`` (did you mean 'x'?)`` for the closest option, else `` (known: a, b, c)`` (nothing with ``known=False``,
    for messages that list the options already)."""
    match = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    if match:
        return f" (did you mean {match[0]!r}?)"
    return f" (known: {', '.join(map(str, options))})" if known else ""


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


@dataclass(frozen=True)
class Option:
    """One option of a method or of the run: its type, default and allowed values, written once.

    Parameters
    ----------
    name : str
        Keyword argument, config key and (with ``-`` for ``_``) command-line flag.
    default : object
        Value when the option is not given.
    type : type or tuple of types
        Accepted Python type(s); an ``int`` is accepted for ``float``; ``bool`` is never accepted as a number.
    help : str
        One line saying what the option does.
    choices : tuple, optional
        Allowed values.
    minimum, maximum : float, optional
        Inclusive bounds (exclusive when ``exclusive=True``).
    exclusive : bool, default False
        Bounds are strict.
    nullable : bool, default False
        ``None`` is allowed (config files cannot write it; it is the "not set" of the Python API).
    kind : str, optional
        The allowed values are the names registered for this method kind (read when validating, so a method
        registered later is accepted).
    required : bool, default False
        (Config keys) the key must be present.
    path : bool, default False
        (Config keys) the value is a file path, resolved against the config file's folder.
    """

    name: str
    default: Any
    type: type | tuple[type, ...]
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive: bool = False
    nullable: bool = False
    kind: str | None = None
    required: bool = False
    path: bool = False

    def allowed(self) -> tuple[Any, ...] | None:
        """The allowed values: ``choices``, or the registered names of ``kind``."""
        if self.kind is not None:
            return method_names(self.kind)
        return self.choices

    def validate(self, value: Any, *, where: str = "") -> Any:
        """Return ``value`` checked (and an int widened to float for float options); raise :class:`InputError`.

        ``where`` prefixes the message, e.g. ``"config.toml: [settings]"``.
        """
        label = f"{where} {self.name}".strip()
        if value is None and self.nullable:
            return None
        if isinstance(value, np.generic):  # numpy's scalars (np.int64(5) from an array) as the Python ones
            value = value.item()
        kinds = self.type if isinstance(self.type, tuple) else (self.type,)
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        elif isinstance(value, int) and float in kinds and int not in kinds:
            value, ok = float(value), True
        elif isinstance(value, list | tuple) and (list in kinds or tuple in kinds):
            value, ok = tuple(value), True
            scalar = tuple(k for k in kinds if k not in (list, tuple))
            if scalar:  # "a value or a list of values": every element is checked as one value
                return self._validate_elements(value, scalar, where, label)
        else:
            ok = isinstance(value, kinds)
        if not ok:
            raise InputError(f"{label} must be {_type_name(self.type)}; got {value!r}.")
        allowed = self.allowed()
        if allowed is not None and value not in allowed:
            shown = ", ".join(map(str, allowed))
            raise InputError(
                f"{label} must be one of {shown}; got {value!r}{suggest(value, allowed, known=False)}."
            )
        if isinstance(value, int | float) and not isinstance(value, bool):
            finite = not isinstance(value, float) or math.isfinite(value)
            low_bad = self.minimum is not None and (
                value <= self.minimum if self.exclusive else value < self.minimum
            )
            high_bad = self.maximum is not None and (
                value >= self.maximum if self.exclusive else value > self.maximum
            )
            if not finite or low_bad or high_bad:
                what = "an integer" if int in kinds and float not in kinds else "a finite number"
                bounds = "" if self.bounds() == "any value" else f" {self.bounds()}"
                raise InputError(f"{label} must be {what}{bounds}; got {value!r}.")
        return value

    def _validate_elements(
        self, values: tuple[Any, ...], scalar: tuple[Any, ...], where: str, label: str
    ) -> tuple[Any, ...]:
        if not values:
            raise InputError(f"{label} must be {_type_name(scalar)} or a non-empty list of them; got [].")
        element = dataclasses.replace(self, type=scalar[0] if len(scalar) == 1 else scalar)
        checked = tuple(element.validate(v, where=where) for v in values)
        twice = [v for i, v in enumerate(checked) if v in checked[:i]]
        if twice:
            raise InputError(f"{label} lists {twice[0]!r} twice; give each value once.")
        return checked

    @staticmethod
    def _number(x: float) -> str:
        return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"

    def bounds(self) -> str:
        """The allowed range in words, e.g. ``">= 1"`` or ``"between 0 and 1 (exclusive)"``."""
        if self.minimum is not None and self.maximum is not None:
            extra = " (exclusive)" if self.exclusive else ""
            return f"between {self._number(self.minimum)} and {self._number(self.maximum)}{extra}"
        if self.minimum is not None:
            return f"{'>' if self.exclusive else '>='} {self._number(self.minimum)}"
        if self.maximum is not None:
            return f"{'<' if self.exclusive else '<='} {self._number(self.maximum)}"
        return "any value"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (type as words, tuples as lists)."""
        default = list(self.default) if isinstance(self.default, tuple) else self.default
        out: dict[str, Any] = {"name": self.name, "type": _type_name(self.type), "default": default}
        allowed = self.allowed()
        if allowed is not None:
            out["choices"] = list(allowed)
        if self.minimum is not None or self.maximum is not None:
            out["range"] = self.bounds()
        out["help"] = self.help
        return out


@dataclass(frozen=True)
class Method:
    """A registered method: metadata and the callable (see the module docstring for each kind's signature).

    Parameters
    ----------
    kind : {"scorer", "measure", "alignment", "model"}
    name : str
        Registry key, used in configs, on the command line and in bundles.
    summary : str
        One line for ``organoidrx methods`` and the report.
    reference : str
        Citation with DOI of the method's paper.
    func : callable
        The implementation.
    options : tuple of Option
        Keyword options of ``func`` with their defaults.
    deterministic : bool, default True
        Same inputs give the same output without a seed.
    sample_independent : bool, default True
        (Scorers) a sample's score depends on that sample alone, not on the cohort it is scored with.
    """

    kind: Kind
    name: str
    summary: str
    reference: str
    func: Callable[..., Any]
    options: tuple[Option, ...] = ()
    deterministic: bool = True
    sample_independent: bool = True
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def option(self, name: str) -> Option:
        """The option called ``name``."""
        for option in self.options:
            if option.name == name:
                return option
        known = [o.name for o in self.options]
        raise InputError(
            f"{self.kind} {self.name!r} has no option {name!r}"
            + (suggest(name, known) if known else " (it takes no options)")
            + "."
        )

    def defaults(self) -> dict[str, Any]:
        """Option name -> default."""
        return {o.name: o.default for o in self.options}

    def resolve(self, options: Mapping[str, Any] | None = None, *, where: str = "") -> dict[str, Any]:
        """Every option's value: the given ones validated, the others at their defaults."""
        given = dict(options or {})
        resolved = self.defaults()
        for key, value in given.items():
            resolved[key] = self.option(key).validate(value, where=where)
        return resolved

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, as ``organoidrx methods --json`` prints it."""
        return {
            "kind": self.kind,
            "name": self.name,
            "summary": self.summary,
            "reference": self.reference,
            "deterministic": self.deterministic,
            "sample_independent": self.sample_independent,
            "options": [o.to_dict() for o in self.options],
        }


class Registry:
    """The methods of one kind, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._methods: dict[str, Method] = {}

    def register(self, method: Method, *, replace: bool = False) -> Method:
        """Add ``method``; a second method of the same name is an error unless ``replace``."""
        if method.kind != self.kind:
            raise InputError(f"method {method.name!r} is a {method.kind}, not a {self.kind}.")
        if not method.name or not method.name.replace("_", "").replace("-", "").isalnum():
            raise InputError(f"method names are letters, digits, '_' and '-'; got {method.name!r}.")
        if method.name in self._methods and not replace and self._methods[method.name] is not method:
            raise InputError(
                f"a {self.kind} called {method.name!r} is already registered; pass replace=True to replace it."
            )
        self._methods[method.name] = method
        return method

    def unregister(self, name: str) -> None:
        """Remove a method (for tests and plug-ins that replace a built-in)."""
        self._methods.pop(name, None)

    def get(self, name: str) -> Method:
        """The method called ``name``; an unknown name is an :class:`InputError` with the closest one."""
        _load_builtins(self.kind)
        if name not in self._methods:
            raise InputError(
                f"unknown {self.kind} {name!r}{suggest(name, list(self._methods))}; "
                "'organoidrx methods' lists them."
            )
        return self._methods[name]

    def names(self) -> tuple[str, ...]:
        """Registered names in registration order."""
        _load_builtins(self.kind)
        return tuple(self._methods)

    def __iter__(self) -> Iterator[Method]:
        _load_builtins(self.kind)
        return iter(list(self._methods.values()))

    def __contains__(self, name: object) -> bool:
        _load_builtins(self.kind)
        return name in self._methods


REGISTRIES: dict[str, Registry] = {kind: Registry(kind) for kind in KINDS}


def _load_builtins(kind: str) -> None:
    importlib.import_module(_BUILTINS[kind])


def _registry(kind: str) -> Registry:
    if kind not in REGISTRIES:
        raise InputError(f"unknown method kind {kind!r}{suggest(kind, list(KINDS))}.")
    return REGISTRIES[kind]


def register(method: Method, *, replace: bool = False) -> Method:
    """Register ``method`` under its kind and name; returns it (so a module can write ``X = register(...)``)."""
    return _registry(method.kind).register(method, replace=replace)


def get_method(kind: str, name: str) -> Method:
    """The registered method of ``kind`` called ``name``."""
    return _registry(kind).get(name)


def method_names(kind: str) -> tuple[str, ...]:
    """Names of every registered method of ``kind``, built-ins first."""
    return _registry(kind).names()


def list_methods(kind: str | None = None) -> list[Method]:
    """Every registered method (of one ``kind``, or of all four in the order of :data:`KINDS`)."""
    kinds = KINDS if kind is None else (kind,)
    return [m for k in kinds for m in _registry(k)]


#: What the reference page says about a kind as a whole (measured figures: benchmarks/RESULTS.md).
_KIND_NOTES = {
    "measure": (
        "**What z <= -1.2816 means.** The cut-off (Kong et al.; the normal 10% quantile) is a convention, not a "
        "10% error rate. With random drugs on STRING > 700 x the Reactome sets of Kong et al. "
        "(`benchmarks/null_calibration.py`), the default null, which redraws the targets and the pathway's genes "
        "(Guney et al. 2016, NetMedPy), calls 3.6% of the rows proximal for `closest` (5.1% of the smallest "
        "pathways, 2.6% of the largest) and 5.9% for `separation` (1.4% to 12.1% from the smallest to the largest): "
        'a real pathway is more compact than its degree-matched random copies, so its z mixes "close to the '
        'drug" with "compact". With `null = "targets"` (the pathway keeps its genes), 9.3% and 10.3%, the '
        "same for every size. `rwr` redraws the targets only; its p is calibrated (5.2% of the rows have p <= "
        "0.05) but its z is heavy-tailed (skewed walk scores), so 5.8% are proximal. `p_value` counts ties as at "
        "least as close; hop distances tie often, so for them it is conservative (`closest`, targets-only null: "
        "2.0% of the rows have p <= 0.05)."
    ),
}


def methods_reference() -> str:
    """Every registered method as Markdown: kind, name, summary, reference, options with defaults, determinism."""
    titles = {
        "scorer": "Pathway scorers",
        "measure": "Network measures",
        "alignment": "Alignments",
        "model": "Models",
    }
    lines = [
        "# Methods",
        "",
        "<!-- generated by `python docs/make_references.py`; do not edit by hand -->",
        "",
        "Every method is selected by its name: `organoidrx score --method NAME`, `organoidrx proximity --measure "
        "NAME`, and the `scorer`, `measure`, `model` and `alignment` keys of `[settings]`. `organoidrx methods` "
        "prints the same list.",
    ]
    for kind in KINDS:
        lines += ["", f"## {titles.get(kind, kind)}"]
        if kind in _KIND_NOTES:
            lines += ["", _KIND_NOTES[kind]]
        for method in list_methods(kind):
            flags = ["deterministic" if method.deterministic else "seeded"]
            if not method.sample_independent:
                flags.append("cohort-dependent")
            lines += [
                "",
                f"### `{method.name}`",
                "",
                f"{method.summary[:1].upper()}{method.summary[1:]} ({', '.join(flags)}).",
                "",
            ]
            lines.append(f"Reference: {method.reference}")
            for option in method.options:
                allowed = option.allowed()
                shown = f"; one of {', '.join(map(str, allowed))}" if allowed else ""
                lines.append(f"- `{option.name}` = `{option.default!r}`{shown}: {option.help}")
    return "\n".join(lines) + "\n"
