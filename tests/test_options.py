"""Options read from factory signatures and docstrings, and the parsing of their values."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.errors import MinidlError, OptionError
from minidl.options import INT_CAP, AllowNonFinite, Ge, Gt, Le, Lt, Option, options_of, resolve_options, summary_of

INT = Option("count", int, 1)
FLOAT = Option("lr", float, 0.03)
BOOL = Option("bias", bool, True)
FLOATS = Option("true_w", list[float], [2.0, -3.4])
INTS = Option("sizes", list[int], [1])
CHOICE = Option("grad", Literal["autograd", "analytic"], "autograd")
MAYBE_INT = Option("num_inputs", int | None, None)
MAYBE_FLOAT = Option("clip", float | None, None)
TEXT = Option("monitor", str, "loss")

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
capped_ints = st.integers(-INT_CAP, INT_CAP)  # an int option without a declared bound is capped


# -- parsing command-line strings ----------------------------------------------------------------
@given(capped_ints)
def test_int_round_trip(value):
    assert INT.parse(str(value)) == value
    assert type(INT.parse(f"  {value} ")) is int


@given(finite_floats)
def test_float_round_trip(value):
    parsed = FLOAT.parse(str(value))
    assert parsed == value and type(parsed) is float


@pytest.mark.parametrize(("text", "value"), [("1e-3", 0.001), ("3", 3.0), ("-2.5", -2.5)])
def test_float_forms(text, value):
    assert FLOAT.parse(text) == value


@pytest.mark.parametrize("text", ["true", "True", "YES", "yes", "1", "on"])
def test_bool_true(text):
    assert BOOL.parse(text) is True


@pytest.mark.parametrize("text", ["false", "False", "NO", "no", "0", "off"])
def test_bool_false(text):
    assert BOOL.parse(text) is False


@given(st.booleans())
def test_bool_round_trip(value):
    assert BOOL.parse(str(value)) is value


@pytest.mark.parametrize("text", ["2,-3.4", "[2, -3.4]", " [2,-3.4] ", "2, -3.4", "2,-3.4,"])
def test_list_of_floats_in_both_spellings(text):
    assert FLOATS.parse(text) == [2.0, -3.4]


@given(st.lists(finite_floats, max_size=6))
def test_list_of_floats_round_trip(values):
    assert FLOATS.parse(str(values)) == values
    assert FLOATS.parse(",".join(map(str, values))) == values


@given(st.lists(capped_ints, max_size=6))
def test_list_of_ints_round_trip(values):
    parsed = INTS.parse(str(values))
    assert parsed == values and all(type(v) is int for v in parsed)


@given(st.sampled_from(["autograd", "analytic"]))
def test_literal_round_trip(value):
    assert CHOICE.parse(str(value)) == value


def test_literal_of_ints_parses():
    assert Option("layers", Literal[1, 2, 3], 1).parse("2") == 2


@given(st.none() | capped_ints)
def test_optional_int_round_trip(value):
    assert MAYBE_INT.parse(str(value)) == value


@pytest.mark.parametrize("text", ["none", "None", "null", ""])
def test_optional_none(text):
    assert MAYBE_FLOAT.parse(text) is None


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=1))
def test_str_round_trip(value):
    assert TEXT.parse(value) == value


# -- bad strings --------------------------------------------------------------------------------
@pytest.mark.parametrize(("option", "text", "type_name"), [
    (INT, "1.5", "int"),
    (INT, "ten", "int"),
    (INT, "", "int"),
    (FLOAT, "fast", "float"),
    (BOOL, "maybe", "bool"),
    (BOOL, "2", "bool"),
    (FLOATS, "2,x", "list[float]"),
    (INTS, "[1, 2.5]", "list[int]"),
    (CHOICE, "numeric", "'autograd' | 'analytic'"),
    (MAYBE_INT, "two", "int | None"),
])
def test_bad_string_names_option_value_and_type(option, text, type_name):
    with pytest.raises(OptionError) as caught:
        option.parse(text)
    message = str(caught.value)
    assert repr(option.name) in message and repr(text) in message and type_name in message
    assert isinstance(caught.value, MinidlError) and isinstance(caught.value, ValueError)


def _python(convert: Any, text: str) -> Any:
    try:
        value = convert(text.strip())
    except ValueError:
        return OptionError
    in_range = abs(value) <= INT_CAP if convert is int else math.isfinite(value)
    return value if in_range else OptionError


@given(st.text(max_size=12) | st.from_regex(r"\s*[-+]?\d+(\.\d*)?(e-?\d+)?\s*", fullmatch=True))
def test_numbers_parse_as_python_reads_them_or_raise_option_error(text):
    for option, convert in ((INT, int), (FLOAT, float)):
        expected = _python(convert, text)
        if expected is OptionError:
            with pytest.raises(OptionError, match=repr(option.name)):
                option.parse(text)
        else:
            assert option.parse(text) == expected


def test_literal_error_lists_the_choices():
    with pytest.raises(OptionError, match="expected one of 'autograd', 'analytic'"):
        CHOICE.parse("numeric")


# -- values from config files and Python --------------------------------------------------------
@pytest.mark.parametrize(("option", "value", "expected"), [
    (FLOAT, 1, 1.0), (FLOAT, "0.5", 0.5), (INT, 3, 3), (INT, "3", 3), (BOOL, False, False),
    (FLOATS, [2, -3.4], [2.0, -3.4]), (FLOATS, (1, 2), [1.0, 2.0]), (MAYBE_INT, None, None),
    (CHOICE, "analytic", "analytic"), (TEXT, "test_loss", "test_loss"),
])
def test_coerce_accepts_fitting_values(option, value, expected):
    result = option.coerce(value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("option", "value"), [
    (INT, 1.5), (INT, True), (FLOAT, True), (FLOAT, [1.0]), (BOOL, 1), (FLOATS, 2.0),
    (FLOATS, ["a"]), (CHOICE, "numeric"), (TEXT, 3), (MAYBE_INT, 2.5),
])
def test_coerce_rejects_values_of_another_type(option, value):
    with pytest.raises(OptionError, match=repr(option.name)) as caught:
        option.coerce(value)
    assert repr(value) in str(caught.value) and option.type_name in str(caught.value)


def test_type_names():
    assert [o.type_name for o in (INT, FLOAT, BOOL, FLOATS, CHOICE, MAYBE_INT, TEXT)] == [
        "int", "float", "bool", "list[float]", "'autograd' | 'analytic'", "int | None", "str",
    ]


# -- options from signatures and docstrings --------------------------------------------------------
def factory(params: Any, lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False,
            schedule: Literal["step", "cosine"] = "step", steps=3, name: str | None = None,
            *args: Any, **kwargs: Any) -> None:
    """A factory for the tests.

    A longer description that is not an option: it spans
    two lines.

    Args:
        params: the parameters (injected)
        lr (float): learning rate
        momentum: momentum factor
        nesterov: use Nesterov momentum

    Returns:
        value: not an option
    """


def test_options_of_reads_types_defaults_and_help():
    options = {o.name: o for o in options_of(factory, injected=("params",))}
    assert list(options) == ["lr", "momentum", "nesterov", "schedule", "steps", "name"]
    assert options["lr"] == Option("lr", float, 0.1, "learning rate")
    assert options["nesterov"].type is bool and options["nesterov"].help == "use Nesterov momentum"
    assert options["schedule"].type_name == "'step' | 'cosine'"
    assert options["steps"].type is int  # no hint: the default's type
    assert options["name"].type_name == "str | None" and options["name"].help == ""
    assert "value" not in {o.name for o in options.values()}
    assert not any(o.required for o in options.values())


def test_docstring_args_stop_at_the_next_section():
    options = {o.name: o.help for o in options_of(factory, injected=("params",))}
    assert options["momentum"] == "momentum factor"
    assert all(help != "not an option" for help in options.values())


def test_injected_parameters_are_not_options():
    assert "params" not in {o.name for o in options_of(factory, injected=("params",))}
    assert "params" in {o.name for o in options_of(factory)}


def test_required_option_and_summary():
    def make(size: int, scale: float = 1.0) -> None:
        """Make a thing.

        Args:
            size: how big
        """

    size, scale = options_of(make)
    assert size.required and not scale.required and size.help == "how big"
    assert summary_of(make) == "Make a thing."
    assert summary_of(lambda: None) == ""


def test_resolve_options_fills_defaults_and_checks():
    options = options_of(factory, injected=("params",))
    values = resolve_options("optimizer 'x'", options, {"lr": "0.5", "nesterov": "yes"})
    assert values == {"lr": 0.5, "momentum": 0.0, "nesterov": True, "schedule": "step", "steps": 3,
                      "name": None}
    with pytest.raises(OptionError, match="optimizer 'x' has no option 'lrr'; its options: lr, momentum"):
        resolve_options("optimizer 'x'", options, {"lrr": 1})


def test_resolve_options_requires_required_ones():
    def make(size: int) -> None:
        """Make."""

    with pytest.raises(OptionError, match=r"model 'm' needs option 'size' \(int\)"):
        resolve_options("model 'm'", options_of(make), {})


def test_options_of_with_hints_that_do_not_resolve():
    namespace: dict[str, Any] = {}
    exec(
        "from __future__ import annotations\n"
        "def make(model: torch.nn.Module, width: int = 4) -> None:\n"
        "    'Make.'\n",
        namespace,
    )
    options = {o.name: o for o in options_of(namespace["make"], injected=("model",))}
    assert options["width"].type is int and options["width"].default == 4


# -- ranges: Annotated markers, the int cap, non-finite floats ------------------------------------
def ranged(lr: Annotated[float, Gt(0)] = 0.03, num_examples: Annotated[int, Ge(1), Le(10**8)] = 1000,
           frac: Annotated[float, Ge(0), Lt(1)] = 0.5, log_scale: Annotated[float, AllowNonFinite()] = 1.0,
           steps: int = 3, width: Annotated[int, Ge(1)] | None = None, true_w: tuple[float, ...] = (1.0,)) -> None:
    """Ranged options."""


RANGED = {o.name: o for o in options_of(ranged)}


def test_annotated_hints_give_the_inner_type_and_keep_the_markers():
    assert RANGED["lr"].type is float and RANGED["lr"].constraints == (Gt(0),)
    assert RANGED["num_examples"].type is int and RANGED["num_examples"].constraints == (Ge(1), Le(10**8))
    assert RANGED["width"].type_name == "int | None" and RANGED["width"].constraints == (Ge(1),)
    assert RANGED["lr"] == Option("lr", float, 0.03)  # markers do not change equality


@pytest.mark.parametrize(("name", "text", "message"), [
    ("lr", "0", "option 'lr' must be > 0, got 0.0"),
    ("lr", "-1e-3", "option 'lr' must be > 0, got -0.001"),
    ("num_examples", "99999999999999999999999",
     "option 'num_examples' must be <= 100000000, got 99999999999999999999999"),
    ("num_examples", "0", "option 'num_examples' must be >= 1, got 0"),
    ("frac", "1", "option 'frac' must be < 1, got 1.0"),
    ("steps", "1000000001", "option 'steps' must be <= 1000000000, got 1000000001"),
    ("steps", "-1000000001", "option 'steps' must be >= -1000000000, got -1000000001"),
    ("width", "0", "option 'width' must be >= 1, got 0"),
    ("lr", "nan", "option 'lr' must be a finite number, got nan"),
    ("frac", "inf", "option 'frac' must be a finite number, got inf"),
    ("true_w", "1,nan", "option 'true_w' must be a finite number, got nan"),
])
def test_values_outside_the_range_are_refused_naming_option_value_and_range(name, text, message):
    with pytest.raises(OptionError) as caught:
        RANGED[name].parse(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(("name", "value"), [
    ("num_examples", 10**12), ("lr", math.nan), ("lr", -math.inf), ("steps", 2**63), ("frac", -0.1),
])
def test_config_values_outside_the_range_are_refused(name, value):
    with pytest.raises(OptionError, match=f"option '{name}' must be"):
        RANGED[name].coerce(value)


def test_values_inside_the_range_pass():
    assert RANGED["lr"].parse("1e-9") == 1e-9 and RANGED["num_examples"].coerce(10**8) == 10**8
    assert RANGED["width"].parse("none") is None and RANGED["frac"].coerce(0) == 0.0


def test_allow_non_finite_accepts_nan_and_inf():
    assert math.isnan(RANGED["log_scale"].parse("nan"))
    assert RANGED["log_scale"].coerce(-math.inf) == -math.inf


def test_range_text():
    assert RANGED["lr"].range_text == "> 0, finite"
    assert RANGED["num_examples"].range_text == ">= 1, <= 100000000"
    assert RANGED["steps"].range_text == ">= -1000000000, <= 1000000000"
    assert RANGED["width"].range_text == ">= 1, <= 1000000000"
    assert RANGED["log_scale"].range_text == "nan/inf allowed"
    assert RANGED["true_w"].range_text == "finite"
    assert Option("name", str, "x").range_text == ""


def ranged_lists(outer: Annotated[list[float], Ge(0), Lt(1)] = [0.9],  # noqa: B006
                 items: list[Annotated[float, Ge(0), Lt(1)]] = [0.9],  # noqa: B006
                 sizes: list[Annotated[int, Ge(1)]] | None = None) -> None:
    """A list's range, declared on the list or on its items."""


@pytest.mark.parametrize("name", ["outer", "items"])
def test_a_list_range_is_checked_on_each_item_in_both_spellings(name):
    option = {o.name: o for o in options_of(ranged_lists)}[name]
    assert option.type == list[float] and option.constraints == (Ge(0), Lt(1))
    assert option.range_text == ">= 0, < 1, finite"
    assert option.parse("0.5, 0.999") == [0.5, 0.999]
    for text, message in [("0.9,1", "must be < 1, got 1.0"), ("-0.1", "must be >= 0, got -0.1"),
                          ("0.5,nan", "must be a finite number, got nan")]:
        with pytest.raises(OptionError, match=f"^option '{name}' {re.escape(message)}$"):
            option.parse(text)
    with pytest.raises(OptionError, match=f"^option '{name}' must be < 1, got 1.0$"):
        option.coerce([0.5, 1.0])


def test_an_optional_list_of_ranged_items():
    sizes = {o.name: o for o in options_of(ranged_lists)}["sizes"]
    assert sizes.type_name == "list[int] | None" and sizes.range_text == ">= 1, <= 1000000000"
    assert sizes.parse("none") is None and sizes.parse("[2, 3]") == [2, 3]
    with pytest.raises(OptionError, match=r"^option 'sizes' must be >= 1, got 0$"):
        sizes.parse("2,0")


def test_resolve_options_names_the_component():
    with pytest.raises(OptionError) as caught:
        resolve_options("dataset 'synthetic-linear'", options_of(ranged), {"num_examples": "99999999999999999999999"})
    assert str(caught.value) == ("dataset 'synthetic-linear': option 'num_examples' must be <= 100000000, "
                                 "got 99999999999999999999999")


# -- what a refused value is told: what is accepted, the value cut when long, none alike everywhere --
@pytest.mark.parametrize("option, text, expected", [
    (Option("epochs", int, 3, constraints=(Ge(0),)), "many", "an integer >= 0, <= 1000000000"),
    (Option("lr", float, 0.1, constraints=(Gt(0),)), "fast", "a finite number > 0"),
    (Option("lr", float, 0.1, constraints=(AllowNonFinite(),)), "fast", "a number"),
    (Option("true_w", list[float], [1.0], constraints=(Ge(0),)), "1,a",
     "finite numbers separated by commas (1,2 or [1, 2]), each >= 0"),
    (Option("num_inputs", int | None, None, constraints=(Ge(1), Le(10))), "x", "an integer >= 1, <= 10, or none"),
    (Option("bias", bool, True), "maybe", "true or false"),
])
def test_a_value_that_cannot_be_read_says_what_is_accepted(option, text, expected):
    """'cannot read 'many' as int' named the value but not what the option takes."""
    with pytest.raises(OptionError, match=f"^option '{option.name}': cannot read '{re.escape(text)}' as "
                                          f"{re.escape(option.type_name)} \\(expected {re.escape(expected)}\\)$"):
        option.parse(text)


@pytest.mark.parametrize("value, size", [("x" * 5000, "5000 characters"), ("9" * 5000, "5000 characters"),
                                         ("9" * 300, "300 digits")])  # the last a valid int, out of range
def test_a_long_value_is_cut_in_the_message(value, size):
    """A 5000-character value was echoed whole: one line of 5000 characters. Now its start, its end, its size."""
    with pytest.raises(OptionError) as caught:
        INT.parse(value)
    message = str(caught.value)
    assert len(message) < 300 and message.count("...") == 1 and f"({size})" in message
    start, _, end = message.partition("...")
    assert start.endswith(value[:90]) and end.startswith(value[-29:])


def test_an_int_too_long_to_print_is_described_not_printed():
    with pytest.raises(OptionError, match=r"^option 'count' must be <= 1000000000, got an integer of about 5000 "
                                          r"digits$"):
        INT.check(10**5000)


@pytest.mark.parametrize("text", ["none", "None", "null", "", "  "])
def test_none_text_unsets_an_optional_string_option_on_every_path(text):
    """--set dataset.path= (or =none) read the folder '.' (or one named 'none'): coerce, which the
    command line and config files go through, kept the text that parse reads as None."""
    path = Option("path", str | None, None)
    assert path.parse(text) is None and path.coerce(text) is None
    assert path.coerce("data/none.txt") == "data/none.txt" and Option("monitor", str, "loss").coerce("none") == "none"
