"""The shrinktree model file: a versioned JSON document that loads without running code.

``model.save_model(path)`` writes a fitted :class:`~shrinktree.ShrinkBoostRegressor`,
:class:`~shrinktree.ShrinkBoostClassifier` or post-hoc shrunk model (``ShrunkModelRegressor`` /
``ShrunkModelClassifier``) and :func:`load_model` reads it back.  The model's state is the one it
pickles (:mod:`shrinktree._safe_state`: plain values, arrays as a dtype from a short list of plain
numeric types, a shape and raw bytes), written as strict JSON: array bytes in base64 with their byte
order in the dtype, non-finite floats spelled out.  Loading parses JSON only, checks the format name,
version and a SHA-256 checksum, rebuilds the state with every check of ``_safe_state`` and restores
the model through its ``__setstate__``, which checks the prediction-state digest and everything the
prediction kernels index.  ``docs/model_file.md`` describes the layout and the compatibility rule.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._integrity import ModelIntegrityError
from ._safe_state import StateError, encode, restore

FORMAT_NAME = "shrinktree-model"
FORMAT_VERSION = 2
FIRST_FORMAT_VERSION = 1
# The TreeArrays attributes format 2 added: the present sets of categorical nodes (``shrinktree._tree``).
_PRESENT_SET_ATTRIBUTES = ("present_offset", "present_bitset", "absent_left_share")


def _upgrade_from_1(document: dict) -> dict:
    """A format-1 document as format 2: its trees have no present sets (every level routes by its split).

    Format 1 had no present sets, so any present-set attribute a tree of such a file holds is dropped
    (it cannot be trusted: no format-1 writer wrote one) and the trees get the defaults.
    """

    def upgraded(value, depth=0):
        if depth > 200:
            raise _Invalid("its model state is nested deeper than any saved model")
        if type(value) is list:
            return [upgraded(item, depth + 1) for item in value]
        if type(value) is not dict:
            return value
        value = {key: upgraded(item, depth + 1) for key, item in value.items()}
        attributes = value.get("attributes")
        if value.get("__object__") == "TreeArrays" and type(attributes) is dict \
                and type(attributes.get("__dict__")) is dict:
            kept = {key: item for key, item in attributes["__dict__"].items() if key not in _PRESENT_SET_ATTRIBUTES}
            value["attributes"] = dict(attributes, __dict__=kept)
        return value

    return dict(document, state=upgraded(document["state"]), format_version=2)


# Format versions older than FORMAT_VERSION that this shrinktree still reads: version -> function that
# turns such a document (already checksum-verified) into one of the next version.  Format 1 is the first.
UPGRADES: dict = {1: _upgrade_from_1}
# Why a format version older than the oldest readable one cannot be read (version -> reason).
RETIRED: dict = {}
HEADER_KEYS = ("format", "format_version", "library_version", "model_class", "metadata", "state", "checksum")
MODEL_CLASSES = ("ShrinkBoostRegressor", "ShrinkBoostClassifier", "ShrunkModelRegressor", "ShrunkModelClassifier")
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class ModelFileError(ModelIntegrityError):
    """A file (or bytes) that is not a valid shrinktree model file, with the reason why.

    Attributes
    ----------
    source : str
        The file's path (or a description of the bytes).
    reason : str
        Why, completing the sentence "``source`` is not a valid shrinktree model file: ...".
    """

    def __init__(self, source: str, reason: str):
        self.source, self.reason = str(source), reason
        super().__init__(f"{source} is not a valid shrinktree model file: {reason}")

    def __reduce__(self):  # the error itself pickles (e.g. raised in a worker process)
        return type(self), (self.source, self.reason)


class _Invalid(Exception):
    """A reason why a document is not a valid model file (turned into :class:`ModelFileError`)."""


@dataclass
class ModelFile:
    """A loaded model file: the model and what the file says about it.

    Attributes
    ----------
    model : estimator
        The fitted, validated model.
    metadata : dict
        The JSON metadata saved with the model (``save_model(path, metadata=...)``).
    format_version : int
        The format version the file was written in.
    library_version : str
        The shrinktree version that wrote it.
    """

    model: object
    metadata: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    library_version: str = ""


# -- writing ---------------------------------------------------------------------------------------
def dumps(model, metadata: dict | None = None) -> bytes:
    """The model file of a fitted model as bytes (see :func:`save_model`)."""
    from . import __version__

    name = type(model).__name__
    if name not in MODEL_CLASSES or type(model).__module__.split(".")[0] != "shrinktree":
        raise TypeError(f"save_model saves shrinktree's {', '.join(MODEL_CLASSES)}; got a {name}.")
    _check_fitted(model)
    metadata = {} if metadata is None else metadata
    if type(metadata) is not dict:
        raise TypeError(f"metadata must be a dict of JSON values, not a {type(metadata).__name__}.")
    _check_metadata(metadata)
    try:
        state = encode(model.__getstate__())
    except TypeError as exc:
        raise TypeError(f"This {name} cannot be saved: {exc} A model file holds plain data only, so a model "
                        "fitted with a custom loss object or another object as a parameter cannot be saved; use "
                        "a built-in loss to save it.") from exc
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "library_version": __version__,
                "model_class": name, "metadata": metadata, "state": _to_json(state)}
    document["checksum"] = _checksum(document)
    return json.dumps(document, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def save_model(model, path, metadata: dict | None = None) -> None:
    """Write a fitted model to ``path`` as a shrinktree model file (``docs/model_file.md``).

    The file is written next to ``path`` under a temporary name and then renamed, so an interrupted
    save never leaves a truncated file under ``path``.

    Parameters
    ----------
    model : ShrinkBoostRegressor, ShrinkBoostClassifier, ShrunkModelRegressor or ShrunkModelClassifier
        A fitted model.
    path : str or os.PathLike
    metadata : dict, optional
        JSON values (str keys; str, int, finite float, bool, None, lists and dicts of them) saved
        with the model and returned by :func:`read_model_file`.

    Raises
    ------
    TypeError
        For another kind of model, or a state or metadata value the file cannot hold (a custom loss
        object or callback, a numpy ``Generator`` as ``random_state``, ...).
    sklearn.exceptions.NotFittedError
        For a model that is not fitted.
    OSError
        When the file cannot be written.
    """
    write_atomically(Path(path), dumps(model, metadata))


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place: a failed write leaves no
    partial file (``OSError`` as the system raises it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "xb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _check_fitted(model) -> None:
    from sklearn.exceptions import NotFittedError

    if "_trees" not in model.__dict__ and "trees_" not in model.__dict__:
        raise NotFittedError(f"This {type(model).__name__} is not fitted; fit it before saving it.")


def _check_metadata(value, where: str = "metadata") -> None:
    if value is None or type(value) in (bool, int, str):
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise TypeError(f"{where} holds the non-finite float {value!r}; metadata must be plain JSON.")
        return
    if type(value) is list:
        for i, item in enumerate(value):
            _check_metadata(item, f"{where}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{where} has the key {key!r}; metadata keys must be str.")
            _check_metadata(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"{where} holds a {type(value).__name__}; metadata must be plain JSON (str, int, float, bool, "
                    "None, lists and dicts).")


def _checksum(document: dict) -> str:
    """SHA-256 of the document without its checksum, serialized canonically (sorted keys, no spaces, ASCII)."""
    body = {key: value for key, value in document.items() if key != "checksum"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def _float_to_json(value: float):
    if math.isfinite(value):
        return value
    return {"__float__": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def _to_json(encoded):
    """An encoded state (``_safe_state.encode``) as JSON values: bytes in base64, non-finite floats spelled out."""
    if encoded is None or type(encoded) in (bool, int, str):
        return encoded
    if type(encoded) is float:
        return _float_to_json(encoded)
    if type(encoded) is bytes:
        return {"__bytes__": base64.b64encode(encoded).decode("ascii")}
    if type(encoded) is list:
        return [_to_json(item) for item in encoded]
    if "__array__" in encoded:
        return {"__array__": encoded["__array__"], "shape": encoded["shape"],
                "data": base64.b64encode(encoded["data"]).decode("ascii")}
    if "__values__" in encoded:
        return {"__values__": encoded["__values__"], "shape": encoded["shape"],
                "items": [_to_json(item) for item in encoded["items"]]}
    if "__tuple__" in encoded:
        return {"__tuple__": [_to_json(item) for item in encoded["__tuple__"]]}
    if "__dict__" in encoded:
        return {"__dict__": {key: _to_json(item) for key, item in encoded["__dict__"].items()}}
    if "__pairs__" in encoded:
        return {"__pairs__": [[_to_json(key), _to_json(item)] for key, item in encoded["__pairs__"]]}
    if "__object__" in encoded:
        return {"__object__": encoded["__object__"], "attributes": _to_json(encoded["attributes"])}
    raise TypeError("An encoded state holds an entry that the model file cannot write.")  # pragma: no cover


# -- reading ---------------------------------------------------------------------------------------
def _from_json(value, depth: int = 0):
    """The encoded state that :func:`_to_json` wrote; :class:`_Invalid` for anything else."""
    if depth > 200:
        raise _Invalid("its model state is nested deeper than any saved model")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [_from_json(item, depth + 1) for item in value]
    if type(value) is not dict:  # pragma: no cover - json.loads makes nothing else
        raise _Invalid(f"its model state holds a {type(value).__name__}")
    keys = set(value)
    if keys == {"__float__"}:
        if value["__float__"] not in _NON_FINITE:
            raise _Invalid(f"its model state spells a float as {value['__float__']!r}")
        return _NON_FINITE[value["__float__"]]
    if keys == {"__bytes__"}:
        return _base64(value["__bytes__"])
    if keys == {"__array__", "shape", "data"}:
        return {"__array__": value["__array__"], "shape": _from_json(value["shape"], depth + 1),
                "data": _base64(value["data"])}
    if keys == {"__values__", "shape", "items"} and type(value["items"]) is list:
        return {"__values__": value["__values__"], "shape": _from_json(value["shape"], depth + 1),
                "items": [_from_json(item, depth + 1) for item in value["items"]]}
    if keys == {"__tuple__"}:
        return {"__tuple__": _from_json(value["__tuple__"], depth + 1)}
    if keys == {"__dict__"} and type(value["__dict__"]) is dict:
        return {"__dict__": {key: _from_json(item, depth + 1) for key, item in value["__dict__"].items()}}
    if keys == {"__pairs__"}:
        return {"__pairs__": _from_json(value["__pairs__"], depth + 1)}
    if keys == {"__object__", "attributes"}:
        return {"__object__": value["__object__"], "attributes": _from_json(value["attributes"], depth + 1)}
    raise _Invalid(f"its model state holds an entry with the keys {sorted(keys)[:6]}, which a saved model never has")


def _base64(text) -> bytes:
    if type(text) is not str:
        raise _Invalid("its model state holds array data that is not base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise _Invalid(f"its model state holds array data that is not base64 ({exc})") from exc


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _Invalid(f"it repeats the JSON key {key!r}")
        out[key] = value
    return out


def _not_json_constant(name):
    raise _Invalid(f"it holds {name}, which strict JSON (and a model file) never has")


def _parse(data: bytes) -> dict:
    if not data:
        raise _Invalid("it is empty")
    if data[:1] == b"\x80":  # pickle protocol 2 or later
        if b"shrinktree-cli-model" in data[:400]:
            raise _Invalid("it is a model file of the former pickle format of 'shrinktree fit' (model format 1 or "
                           "2), which is no longer read because loading a pickle can run code; refit the model "
                           "with 'shrinktree fit'")
        raise _Invalid("it is a Python pickle, which shrinktree does not load as a model file (loading a pickle can "
                       "run code): save models with model.save_model(path)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"it is not JSON text (the file is damaged, or another kind of file): {exc.reason} at byte "
                       f"{exc.start}") from exc
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_not_json_constant)
    except json.JSONDecodeError as exc:
        raise _Invalid(f"it is not a complete JSON document (the file is truncated or damaged, or another kind of "
                       f"file): {exc.msg} at character {exc.pos}") from exc
    except RecursionError as exc:
        raise _Invalid("it is JSON nested deeper than any model file") from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise _Invalid(f"it is not a valid JSON document: {' '.join(str(exc).split())[:200]}") from exc
    if type(document) is not dict or document.get("format") != FORMAT_NAME:
        raise _Invalid(f"it is not a shrinktree model file (it lacks \"format\": \"{FORMAT_NAME}\")")
    return document


def _check_version(document: dict) -> int:
    from . import __version__

    version = document.get("format_version")
    if type(version) is not int:
        raise _Invalid(f"its format version is {version!r}, not a whole number")
    writer = document.get("library_version")
    written_by = f" (it was written by shrinktree {writer})" if type(writer) is str else ""
    if version > FORMAT_VERSION:
        raise _Invalid(f"it is in model file format {version}, newer than format {FORMAT_VERSION} that this "
                       f"shrinktree {__version__} reads{written_by}: upgrade shrinktree to load it")
    if version < FORMAT_VERSION and version not in UPGRADES:
        reason = RETIRED.get(version, f"format {FIRST_FORMAT_VERSION} is the first model file format, so no "
                                      f"shrinktree wrote format {version}")
        raise _Invalid(f"it is in model file format {version}, which this shrinktree {__version__} cannot read: "
                       f"{reason}")
    return version


def _check_header(document: dict) -> None:
    missing = [key for key in HEADER_KEYS if key not in document]
    extra = sorted(repr(key) for key in document if key not in HEADER_KEYS)
    problems = ([f"lacks {', '.join(missing)}"] if missing else []) + (
        [f"has unexpected keys {', '.join(extra)}"] if extra else [])
    if problems:
        raise _Invalid(f"its header {' and '.join(problems)}")
    if type(document["checksum"]) is not str:
        raise _Invalid("its checksum is not text")
    if _checksum(document) != document["checksum"]:
        raise _Invalid("its content does not match its checksum (the file is damaged, truncated or was edited)")
    if type(document["library_version"]) is not str:
        raise _Invalid("its library version is not text")
    if type(document["metadata"]) is not dict:
        raise _Invalid(f"its metadata is a {type(document['metadata']).__name__}, not a JSON object")
    if document["model_class"] not in MODEL_CLASSES:
        raise _Invalid(f"its model class is {document['model_class']!r}, not one of {', '.join(MODEL_CLASSES)}")


def _model_class(name: str):
    from .boosting import ShrinkBoostClassifier, ShrinkBoostRegressor
    from .posthoc import ShrunkModelClassifier, ShrunkModelRegressor

    classes = (ShrinkBoostRegressor, ShrinkBoostClassifier, ShrunkModelRegressor, ShrunkModelClassifier)
    return {cls.__name__: cls for cls in classes}[name]


def loads(data: bytes, source: str = "the model data") -> ModelFile:
    """Read a model file from bytes (see :func:`read_model_file`); ``source`` names it in errors."""
    try:
        document = _parse(bytes(data))
        written = version = _check_version(document)
        _check_header(document)
        while version < FORMAT_VERSION:
            document = UPGRADES[version](document)
            version += 1
        encoded = _from_json(document["state"])
    except _Invalid as exc:
        raise ModelFileError(source, str(exc)) from None
    except RecursionError as exc:
        raise ModelFileError(source, "it is JSON nested deeper than any model file") from exc
    cls = _model_class(document["model_class"])
    try:
        model = restore(cls, encoded)
    except (ModelIntegrityError, StateError) as exc:
        raise ModelFileError(source, f"its model state is damaged ({exc})") from exc
    except (AttributeError, TypeError, ValueError, IndexError, KeyError, OverflowError, RecursionError,
            MemoryError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ModelFileError(source, f"its model state is damaged ({type(exc).__name__}: {detail})") from exc
    if type(model) is not cls or not ("_trees" in model.__dict__ or "trees_" in model.__dict__):
        raise ModelFileError(source, f"its {cls.__name__} is not fitted")
    return ModelFile(model, document["metadata"], written, document["library_version"])


def read_model_file(path) -> ModelFile:
    """Read a model file: the model, its metadata and the versions that wrote it.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ModelFile

    Raises
    ------
    ModelFileError
        (a ``ValueError``) when the file is not a valid model file: damaged or truncated, another
        kind of file, a newer format version, or a model that fails its checks.
    OSError
        When the file cannot be read.
    """
    path = Path(path)
    with open(path, "rb") as stream:
        data = stream.read()
    return loads(data, source=str(path))


def load_model(path):
    """Load a model saved with ``model.save_model(path)``, checking every part of it.

    Loading parses JSON and rebuilds arrays from bytes: it runs no code from the file (no pickle).
    The model is checked as an unpickled one is: its prediction-state digest, and every index the
    prediction kernels follow (tree links, split features, bitset offsets, shapes, output columns).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ShrinkBoostRegressor, ShrinkBoostClassifier, ShrunkModelRegressor or ShrunkModelClassifier

    Raises
    ------
    ModelFileError
        (a ``ValueError`` and :class:`shrinktree.exceptions.ModelIntegrityError`) when the file is not
        a valid model file; its message says why.
    OSError
        When the file cannot be read.
    """
    return read_model_file(path).model


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModelFile", "ModelFileError", "dumps", "load_model", "loads",
           "read_model_file", "save_model"]
