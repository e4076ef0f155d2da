"""A fitted model's state as plain Python values, so that restoring a damaged copy cannot crash.

Pickling a numpy array stores its dtype as a description that numpy trusts when it loads it: one
flipped bit can turn an integer array into a timedelta whose restored state crashes the
interpreter.  Fitted models therefore pickle their state encoded by :func:`encode` into
``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, lists and dicts only (the pickle
opcodes Python itself checks), and :func:`decode` rebuilds arrays from raw bytes after checking
their dtype against a short list of plain numeric types, their shape and their byte count.  The
few classes a state may contain are named in :data:`ALLOWED_CLASSES` and rebuilt from their
attribute dicts; anything else is refused at save time.
"""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass

import numpy as np

# Plain numeric dtypes an array may be restored as (byte order included: the bytes were saved as is).
ALLOWED_DTYPES = frozenset(
    f"{order}{kind}{size}" for order in "<>" for kind in "iuf" for size in (1, 2, 4, 8)
) | {"|b1", "|i1", "|u1"}
MAX_ARRAY_BYTES = 1 << 36


class StateError(ValueError):
    """An encoded state that cannot be (or was not) produced by :func:`encode`."""


def _allowed_classes() -> dict:
    from sklearn.preprocessing import LabelEncoder

    from ._tree import TreeArrays
    from .boosting.binning import BinMapper
    from .boosting.categorical import CategoricalEncoder
    from .boosting.category_pairs import CategoryPairs
    from .boosting.cross_features import CrossColumns
    from .boosting.gradient_boosting import ShrinkBoostClassifier, ShrinkBoostRegressor
    from .posthoc.adapters_lightgbm import LightGBMRouting
    from .posthoc.adapters_xgboost import XGBoostMissing
    from .posthoc.inputs import LightGBMPandasInput, ShrinkBoostInput
    from .posthoc.model import ShrunkModelClassifier, ShrunkModelRegressor
    from .posthoc.parsed import ParsedModel

    classes = (TreeArrays, BinMapper, CategoricalEncoder, CrossColumns, CategoryPairs, LabelEncoder,
               ShrinkBoostRegressor, ShrinkBoostClassifier, ShrunkModelRegressor, ShrunkModelClassifier,
               LightGBMPandasInput, ShrinkBoostInput, ParsedModel, LightGBMRouting, XGBoostMissing,
               np.random.RandomState)
    return {cls.__name__: cls for cls in classes}


def encode(value):
    """``value`` as plain Python values (see the module docstring); ``TypeError`` for what it cannot hold."""
    if value is None or type(value) in (bool, str, bytes):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, np.ndarray):
        if value.dtype.str in ALLOWED_DTYPES:
            return {"__array__": value.dtype.str, "shape": list(value.shape),
                    "data": np.ascontiguousarray(value).tobytes()}
        if value.dtype.kind in "OUS":
            return {"__values__": value.dtype.str if value.dtype.kind in "US" else "|O",
                    "shape": list(value.shape), "items": [encode(item) for item in value.ravel().tolist()]}
        raise TypeError(f"Cannot save an array of dtype {value.dtype}.")
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(item) for item in value]}
    if isinstance(value, dict):
        if all(type(key) is str for key in value):
            return {"__dict__": {key: encode(item) for key, item in value.items()}}
        return {"__pairs__": [[encode(key), encode(item)] for key, item in value.items()]}
    name = type(value).__name__
    if name in _allowed_classes() and type(value) is _allowed_classes()[name]:
        if isinstance(value, np.random.RandomState):
            attributes = {"state": value.get_state(legacy=False)}
        elif is_dataclass(value):
            attributes = {f.name: getattr(value, f.name) for f in fields(value)}
        elif hasattr(value, "__getstate__") and type(value).__getstate__ is not object.__getstate__:
            attributes = value.__getstate__()
        else:
            attributes = dict(vars(value))
        return {"__object__": name, "attributes": encode(attributes)}
    if isinstance(value, np.random.Generator):
        raise TypeError("Cannot save a numpy Generator as random_state; use an int or a RandomState.")
    raise TypeError(f"Cannot save a value of type {type(value).__name__}.")


def _decode_array(encoded: dict) -> np.ndarray:
    dtype, shape, data = encoded.get("__array__"), encoded.get("shape"), encoded.get("data")
    if dtype not in ALLOWED_DTYPES:
        raise StateError(f"An array has the dtype {dtype!r}, which a saved model never has.")
    shape = _decode_shape(shape)
    if not isinstance(data, bytes):
        raise StateError("An array's data is missing.")
    itemsize = np.dtype(dtype).itemsize
    if len(data) != math.prod(shape) * itemsize:
        raise StateError(f"An array of shape {tuple(shape)} and dtype {dtype} holds {len(data)} bytes.")
    # The dtype names the byte order the bytes were saved in; the restored array is in this machine's order.
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(np.dtype(dtype).newbyteorder("="))


def _decode_shape(shape) -> tuple:
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape) or len(shape) > 8:
        raise StateError(f"An array has the invalid shape {shape!r}.")
    if math.prod(shape) > MAX_ARRAY_BYTES:
        raise StateError(f"An array of shape {tuple(shape)} is larger than any saved model holds.")
    return tuple(shape)


def _decode_values(encoded: dict) -> np.ndarray:
    dtype, shape, items = encoded.get("__values__"), _decode_shape(encoded.get("shape")), encoded.get("items")
    if not isinstance(items, list) or len(items) != math.prod(shape):
        raise StateError("An array of values does not match its shape.")
    if not isinstance(dtype, str) or not (dtype == "|O" or (len(dtype) > 2 and dtype[1] in "US"
                                                            and dtype[2:].isdigit())):
        raise StateError(f"An array of values has the dtype {dtype!r}, which a saved model never has.")
    values = [decode(item) for item in items]
    if dtype == "|O":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out.reshape(shape)
    if not all(isinstance(v, str if dtype[1] == "U" else bytes) for v in values):
        raise StateError("An array of strings holds other values.")
    return np.array(values, dtype=np.dtype(dtype).newbyteorder("=")).reshape(shape)


def decode(encoded):
    """The value that :func:`encode` encoded; :class:`StateError` for anything it cannot have made."""
    if encoded is None or type(encoded) in (bool, int, float, str, bytes):
        return encoded
    if type(encoded) is list:
        return [decode(item) for item in encoded]
    if type(encoded) is not dict:
        raise StateError(f"A saved state holds a {type(encoded).__name__}.")
    if "__array__" in encoded:
        return _decode_array(encoded)
    if "__values__" in encoded:
        return _decode_values(encoded)
    if "__tuple__" in encoded and type(encoded["__tuple__"]) is list:
        return tuple(decode(item) for item in encoded["__tuple__"])
    if "__dict__" in encoded and type(encoded["__dict__"]) is dict:
        return {str(key): decode(item) for key, item in encoded["__dict__"].items()}
    if "__pairs__" in encoded and type(encoded["__pairs__"]) is list:
        pairs = [decode(pair) for pair in encoded["__pairs__"]]
        if not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
            raise StateError("A saved mapping is damaged.")
        try:
            return {key: item for key, item in pairs}
        except TypeError as exc:
            raise StateError(f"A saved mapping is damaged: {exc}") from exc
    if "__object__" in encoded:
        return _decode_object(encoded["__object__"], decode(encoded.get("attributes")))
    raise StateError("A saved state holds an unknown entry.")


def _decode_object(name, attributes):
    classes = _allowed_classes()
    if name not in classes or not isinstance(attributes, dict):
        raise StateError(f"A saved state names the class {name!r}, which a saved model never holds.")
    cls = classes[name]
    if cls is np.random.RandomState:
        generator = np.random.RandomState()
        try:
            generator.set_state(attributes["state"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"A saved random state is damaged: {exc}") from exc
        return generator
    if is_dataclass(cls):
        try:
            return cls(**attributes)
        except TypeError as exc:
            raise StateError(f"A saved {name} is incomplete: {exc}") from exc
    obj = cls.__new__(cls)
    if getattr(cls, "__setstate__", None) is not None:
        obj.__setstate__(attributes)
    else:
        obj.__dict__.update(attributes)
    return obj


def restore(cls, encoded_state):
    """Rebuild a pickled model: ``cls.__setstate__`` receives the decoded (and then checked) state."""
    if cls not in _allowed_classes().values():
        raise StateError(f"A saved model names the class {getattr(cls, '__name__', cls)!r}.")
    state = decode(encoded_state)
    if not isinstance(state, dict):
        raise StateError("A saved model's state is not a dict.")
    obj = cls.__new__(cls)
    obj.__setstate__(state)
    return obj


class SafeStateMixin:
    """Pickling and ``save_model`` for fitted models through the plain-value state of this module."""

    def __reduce__(self):
        try:
            return restore, (type(self), encode(self.__getstate__()))
        except TypeError as exc:
            raise TypeError(f"This {type(self).__name__} cannot be pickled: {exc} Saved models hold plain data "
                            "only (shrinktree._safe_state), so a model fitted with a custom loss object or another "
                            "object as a parameter cannot be saved; use a built-in loss to save it.") from exc

    def save_model(self, path, metadata=None) -> None:
        """Save the fitted model to ``path`` as a shrinktree model file; load it with ``shrinktree.load_model``.

        The file is a versioned JSON document (``docs/model_file.md``) that loads without running code
        from it, on any machine, with predictions bit for bit those of this model.

        Parameters
        ----------
        path : str or os.PathLike
        metadata : dict, optional
            JSON values saved with the model (``shrinktree.model_file.read_model_file(path).metadata``).
        """
        from .model_file import save_model

        save_model(self, path, metadata)
