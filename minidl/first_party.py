"""Which first-party distribution provides which component name (for "unknown name" errors).

minidl ships its book chapters as separate distributions under ``plugins/``; a user who
types ``--optimizer adam`` without them installed is told which one to install.
"""

from __future__ import annotations

#: distribution -> (its folder in the minidl checkout, {kind: names it registers})
FIRST_PARTY: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "minidl-concise": ("plugins/concise", {
        "dataset": ("torch-synthetic-linear", "polynomial", "high-dim-linear"),
        "model": ("linear", "mlp"),
        "loss": ("cross-entropy", "mse"),
        "optimizer": ("torch-sgd", "torch-adam", "torch-adamw", "torch-rmsprop", "torch-adagrad",
                      "torch-adadelta"),
        "callback": ("l2-penalty",),
    }),
    "minidl-optim": ("plugins/optim", {
        "dataset": ("airfoil",),
        "optimizer": ("momentum", "adagrad", "rmsprop", "adadelta", "adam"),
    }),
    "minidl-classify": ("plugins/classify", {
        "dataset": ("fashion-mnist", "shapes"),
        "model": ("softmax-regression", "mlp-scratch"),
        "loss": ("softmax-cross-entropy",),
        "metric": ("accuracy",),
    }),
    "minidl-vision": ("plugins/vision", {
        "model": ("lenet", "lenet-bn", "alexnet", "vgg", "nin", "googlenet", "resnet18", "densenet"),
    }),
    "minidl-sequence": ("plugins/sequence", {
        "dataset": ("jay-lyrics",),
        "model": ("rnn-scratch", "rnn", "gru-scratch", "gru", "lstm-scratch", "lstm"),
        "loss": ("sequence-cross-entropy",),
        "metric": ("perplexity",),
    }),
}


def first_party_source(kind: str, name: str) -> tuple[str, str] | None:
    """``(distribution, folder)`` of the first-party plugin that registers ``kind`` ``name``, if any."""
    for distribution, (folder, names) in FIRST_PARTY.items():
        if name in names.get(kind, ()):
            return distribution, folder
    return None


def install_hint(kind: str, name: str) -> str | None:
    """What to tell a user who asked for ``kind`` ``name`` that no loaded plugin registered, if first-party."""
    source = first_party_source(kind, name)
    if source is None:
        return None
    distribution, folder = source
    if _installed(distribution):
        return (f"{kind} {name!r} comes with the first-party plugin {distribution}, which is installed but not "
                f"loaded: check MINIDL_LOAD_PLUGINS")
    return (f"{kind} {name!r} comes with the first-party plugin {distribution}, not installed: install it with "
            f"`pip install ./{folder}` in a minidl checkout (or `pip install -r requirements.txt` for all of them)")


def _installed(distribution: str) -> bool:
    from importlib import metadata  # only on this error path: it costs start-up time

    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True
