"""YAML configs -> frozen dataclasses, with ``--set key=value`` overrides.

A config file is read with ``yaml.safe_load`` and turned into the dataclass schema of the
command (for example :class:`lrface.distill.config.DistillConfig`). Unknown keys are
rejected with the close matches named, so a typo never silently falls back to a default;
``--set a.b=3`` overrides any nested field (the value is parsed as YAML: ``3`` is an int,
``[8, 16]`` a list, ``null`` None).

Example:
    >>> apply_overrides({"optim": {"lr": 0.1}}, ["optim.lr=0.5", "student.res=[8, 16]"])
    {'optim': {'lr': 0.5}, 'student': {'res': [8, 16]}}
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Type, TypeVar, Union

import yaml

from lrface.errors import LrfaceError

T = TypeVar("T")


class ConfigError(LrfaceError, ValueError):
    """A config file or override that does not fit the schema."""


def read_yaml(path: Union[str, Path]) -> Dict[str, Any]:
    """Read a YAML mapping (``yaml.safe_load``); a clear error for a missing or bad file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def apply_overrides(data: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Apply ``key.sub=value`` overrides to a nested dict (a copy); values parsed as YAML."""
    import copy

    out = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set needs key=value, got {item!r}")
        key, _, raw = item.partition("=")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {key}: cannot parse value {raw!r}: {e}") from None
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {key}: {p!r} is not a section")
            node = nxt
        node[parts[-1]] = value
    return out


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a section (mapping), got {value!r}")
        return from_dict(tp, value, where)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        last: Exception = ConfigError(where)
        for a in inner:
            try:
                return _convert(a, value, where)
            except ConfigError as e:
                last = e
        raise last
    if origin in (tuple, list, Sequence):
        if not isinstance(value, (list, tuple)):
            value = [value]
        item = args[0] if args else Any
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping, Dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any or tp is None:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: Type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build the dataclass ``cls`` from ``data``; unknown keys raise :class:`ConfigError`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, list(fields), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"{where}: unknown key {k!r}.{hint} Known: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)  # type: ignore[call-arg]


def to_dict(obj: Any) -> Any:
    """A dataclass config as plain YAML-safe data (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def load_config(cls: Type[T], path: Union[str, Path], overrides: Sequence[str] = ()) -> T:
    """Read ``path``, apply ``overrides``, build ``cls``."""
    return from_dict(cls, apply_overrides(read_yaml(path), overrides), where=Path(path).name)


def dump_config(obj: Any, extra: Mapping[str, Any] | None = None) -> str:
    """YAML text of a config (plus ``extra`` top-level keys such as the commit)."""
    data: Dict[str, Any] = dict(to_dict(obj))
    if extra:
        data.update(extra)
    return yaml.safe_dump(data, sort_keys=False)


__all__: List[str] = ["ConfigError", "apply_overrides", "dump_config", "from_dict", "load_config", "read_yaml", "to_dict"]
