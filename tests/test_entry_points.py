"""minidl's entry-point reader against importlib.metadata, the oracle it replaces for speed."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from minidl.entry_points import entry_points


@pytest.mark.parametrize("group", ["minidl", "console_scripts", "pytest11"])
def test_same_entry_points_as_importlib_metadata(group: str) -> None:
    expected = sorted((ep.name, ep.value, ep.dist.name, ep.dist.version)
                      for ep in importlib.metadata.entry_points(group=group))
    found = sorted((ep.name, ep.value, ep.distribution, ep.version) for ep in entry_points(group))
    assert found == expected


def make_distribution(site: Path, folder: str, metadata: str, entry_points_txt: str) -> None:
    info = site / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(metadata)
    (info / "entry_points.txt").write_text(entry_points_txt)


def test_first_distribution_of_a_name_wins_and_names_keep_their_case(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    make_distribution(first, "My_Plugin-1.0.dist-info", "Metadata-Version: 2.1\nName: my-plugin\nVersion: 1.0\n\nbody",
                      "[minidl]\nMixedCase = my_plugin.hooks:plugin\n")
    make_distribution(second, "my_plugin-2.0.dist-info", "Name: my-plugin\nVersion: 2.0\n",
                      "[minidl]\nother = my_plugin.old\n")
    found = entry_points("minidl", [str(first), str(second), str(tmp_path / "missing")])
    assert [(ep.name, ep.value, ep.distribution, ep.version) for ep in found] == [
        ("MixedCase", "my_plugin.hooks:plugin", "my-plugin", "1.0")]
    expected = [(ep.name, ep.value, ep.dist.name, ep.dist.version)
                for ep in importlib.metadata.distributions(path=[str(first), str(second)])
                for ep in ep.entry_points if ep.group == "minidl"]
    assert expected[0] == ("MixedCase", "my_plugin.hooks:plugin", "my-plugin", "1.0")


def test_load_resolves_module_and_attribute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "epmod.py").write_text("class Holder:\n    value = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    make_distribution(tmp_path, "epmod-0.1.dist-info", "Name: epmod\nVersion: 0.1\n",
                      "[minidl]\nmod = epmod\nattr = epmod:Holder.value\n[other]\nx = nothing\n")
    found = {ep.name: ep for ep in entry_points("minidl", [str(tmp_path)])}
    assert found["mod"].load().Holder.value == 42
    assert found["attr"].load() == 42
