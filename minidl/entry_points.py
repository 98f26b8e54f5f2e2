"""Installed entry points, found without importing ``importlib.metadata``.

``importlib.metadata`` imports the ``email`` package and more: about 50 ms, most of
``minidl --help``'s start-up. Entry points need none of it: each installed distribution
has a ``*.dist-info`` (or ``*.egg-info``) folder on ``sys.path`` whose
``entry_points.txt`` is an INI file. This reads those, first distribution of a name
wins (as ``importlib.metadata`` does); tests check the result against it.
"""

from __future__ import annotations

import configparser
import importlib
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_INFO_DIR = re.compile(r"^(?P<name>[^-]+)(-.*)?\.(dist|egg)-info$", re.IGNORECASE)


@dataclass(frozen=True)
class EntryPoint:
    """``name = module[:attr]`` in a group, and the distribution that declares it."""

    name: str
    value: str
    distribution: str
    version: str

    def load(self) -> object:
        """Import the module and return it, or the attribute after ``:``."""
        module_name, _, attrs = self.value.partition(":")
        target: Any = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            target = getattr(target, attr)
        return target


def entry_points(group: str, path: Iterable[str] | None = None) -> list[EntryPoint]:
    """Every entry point in ``group`` of the distributions on ``path`` (default ``sys.path``)."""
    found, seen = [], set()
    for info_dir, folder_name in _distributions(sys.path if path is None else path):
        key = _normalize(folder_name)
        if key in seen:
            continue
        seen.add(key)
        declared = _read(info_dir, group)
        if declared:
            name, version = _name_and_version(info_dir)
            found += [EntryPoint(ep_name, value, name or folder_name, version) for ep_name, value in declared]
    return found


def _distributions(path: Iterable[str]) -> Iterator[tuple[str, str]]:
    for entry in path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for folder in names:
            match = _INFO_DIR.match(folder)
            if match:
                yield os.path.join(entry or ".", folder), match["name"]


def _read(info_dir: str, group: str) -> list[tuple[str, str]]:
    try:
        with open(os.path.join(info_dir, "entry_points.txt"), encoding="utf-8") as file:
            text = file.read()
    except OSError:
        return []
    if f"[{group}]" not in text:  # most distributions: no need to parse
        return []
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names keep their case
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    return list(parser.items(group)) if parser.has_section(group) else []


def _name_and_version(info_dir: str) -> tuple[str, str]:
    """``Name`` and ``Version`` from the distribution's METADATA (PKG-INFO for eggs) headers."""
    fields: dict[str, str] = {}
    for file_name in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(info_dir, file_name), encoding="utf-8") as file:
                for line in file:
                    if not line.strip():
                        break  # the headers end at the first empty line
                    key, _, value = line.partition(":")
                    fields.setdefault(key.strip().lower(), value.strip())
        except OSError:
            continue
        break
    return fields.get("name", ""), fields.get("version", "")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
