"""The plugin author's kit: check that your components keep minidl's contracts, in one call.

In the spirit of scikit-learn's ``check_estimator``: :func:`check_plugin` builds every
component a plugin registers and runs the checks that apply to its kind;
:func:`check_component` checks one. A failure raises :class:`ConformanceError` (an
``AssertionError``, so pytest shows it as a failed test) naming the component and the
check, e.g. ``loss 'mean-sq' fails check 'per_example': returned shape () ...``.

What is checked, by kind (check names in brackets):

* every kind: a summary line [summary], a help line [documented] and a type hint
  [typed] for every option, and the factory builds with its defaults [builds];
* dataset: a ``train`` split [splits], batches of the right shape and dtype whose last
  one may be short [batch_shapes], every example once per epoch [covers_epoch], the same
  order for the same generator seed and another for another seed [seeded_order], the
  same data when built twice under one seed [seeded_build], every split's ``tensors``
  [split_tensors], ``num_inputs`` matching the features [num_inputs], ``state_dict``
  [state_dict] and ``to("cpu")`` [to_cpu];
* model (built against a dataset): output shape, dtype, no nan [output], the same
  parameters under one seed [deterministic_init], the same output twice
  [deterministic_forward], ``state_dict`` giving identical outputs [state_dict], a
  gradient reaching every parameter [gradients], ``compute_gradients`` agreeing with
  autograd [compute_gradients], ``to("cpu")`` [to_cpu], one epoch with ``sgd`` [trains];
* loss: one value per example, each independent of the rest of the batch
  [per_example], non-negative (unless it sets ``nonnegative = False``) [nonnegative],
  differentiable [differentiable], ``grad_output`` agreeing with autograd [grad_output];
* optimizer: ``param_groups`` with ``lr`` [param_groups], a quadratic loss decreases
  [decreases_quadratic], ``zero_grad`` clears [zero_grad], a changed ``lr`` is used
  [lr_in_param_groups], ``state_dict`` continues identically [state_dict];
* metric: a float [returns_float], ``higher_is_better`` [higher_is_better], a mean over
  examples, so chunked evaluation adds up [mean_over_examples], a working ``fmt`` [fmt];
* callback: at least one ``@hookimpl`` training-event method and no undecorated one
  [implements_hook], a short Trainer run [trainer_run], ``state_dict`` [state_dict];
* a whole plugin: it registers something, with no hook left undecorated or misspelled
  [registers_something], and importing it does not import torch [lazy_import];
  :func:`check_option_ranges` (on its own): every int or float option declares a lower
  bound (``Annotated[float, Gt(0)]``) unless allowlisted with a reason [option_ranges].

Models, losses, metrics and callbacks need partners: a dataset (``data=``), a model
(``model=``) and a loss (``loss=``), each a registered name, a ``(name, options)`` pair
or a built object. Left out, those the factory names in its ``check_with`` attribute
(``factory.check_with = {"data": ("shapes", {}), "loss": "cross-entropy"}``) are used,
else the first combination that runs, trying the plugin's own components first, then
``synthetic-linear``, ``linreg`` and ``squared``.

Usage, in a plugin's tests::

    from minidl.testing import check_component, check_plugin, parametrize_components

    def test_my_plugin_conforms():
        check_plugin("my_plugin")  # an entry point name, module name or .py path

    @parametrize_components("my_plugin")
    def test_each_component(kind, name):
        check_component(kind, name, plugins=["my_plugin"], data="my-dataset")

Fixtures: ``pytest_plugins = ["minidl.testing.fixtures"]`` in your top-level
``conftest.py`` gives tests ``plugins`` (freshly loaded, no ``MINIDL_*`` variables leaking
in) and ``registry``; override the ``minidl_entry_points`` fixture to limit which installed
plugins load.

One module per kind of check: :mod:`~minidl.testing.datasets`, ``models``, ``losses``,
``optimizers``, ``metrics``, ``callbacks``; ``common`` (every kind), ``context`` (the
partners), ``component`` and ``plugin`` (the entry points above), ``ranges`` (the options'
declared ranges).
"""

from __future__ import annotations

from minidl.testing.component import CHECKS, check_component, check_name
from minidl.testing.context import ConformanceError
from minidl.testing.plugin import check_plugin, parametrize_components, plugin_components
from minidl.testing.ranges import check_option_ranges, numeric_options

__all__ = [
    "CHECKS",
    "ConformanceError",
    "check_component",
    "check_name",
    "check_option_ranges",
    "check_plugin",
    "numeric_options",
    "parametrize_components",
    "plugin_components",
]
