"""Every numeric option of minidl-sequence declares its range in the factory's signature,
checked once by the option parser and shown by ``minidl show``."""

from __future__ import annotations

import re

import pytest
from minidl_sequence import plugin as sequence_plugin

from minidl.errors import OptionError
from minidl.options import Ge, Gt, Le, Lt, Option
from minidl.plugins import Plugins

NUMERIC = re.compile(r"(list\[)?(int|float)\]?( \| None)?")


def numeric_options() -> list[tuple[str, Option]]:
    plugins = Plugins()
    plugins.register(sequence_plugin, name="sequence")
    return [(component.label, option) for component in plugins.registry
            for option in component.options if NUMERIC.fullmatch(option.type_name)]


OPTIONS = numeric_options()


def test_the_plugin_has_numeric_options() -> None:
    assert len(OPTIONS) == 2 + 3 * 2 + 3 * 3  # the dataset's 2; scratch models 2 each, layer models 3


@pytest.mark.parametrize(("label", "option"), OPTIONS, ids=[f"{label}.{o.name}" for label, o in OPTIONS])
def test_every_numeric_option_declares_a_lower_and_an_upper_bound(label: str, option: Option) -> None:
    declared = [c for c in option.constraints if isinstance(c, (Gt, Ge, Lt, Le))]
    assert any(not bound.upper for bound in declared), f"{label}.{option.name}: no lower bound"
    assert any(bound.upper for bound in declared), f"{label}.{option.name}: no upper bound"


def test_an_option_out_of_range_is_one_line(registry) -> None:
    with pytest.raises(OptionError, match=r"^model 'lstm': option 'num_layers' must be <= 64, got 65$"):
        registry.build("model", "lstm", {"num_layers": 65})
