"""The files of a run directory, as ``minidl train --out DIR`` writes them.

:mod:`minidl.records` writes them while a run trains, :mod:`minidl.saved_run` reads
them back; both take the names from here.
"""

from __future__ import annotations

CONFIG_FILE = "config.toml"
VERSIONS_FILE = "versions.json"
RUN_FILE = "run.json"
METRICS_CSV = "metrics.csv"
METRICS_JSONL = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
DATA_PLOT = "data.png"  # written by ``minidl train --plot``
LOSS_PLOT = "loss.png"
#: Every file a run writes; ``overwrite=True`` replaces these and leaves anything else alone.
RECORD_FILES = (CONFIG_FILE, VERSIONS_FILE, RUN_FILE, METRICS_CSV, METRICS_JSONL, CHECKPOINT_FILE,
                DATA_PLOT, LOSS_PLOT)
#: TensorBoard's event files, which the ``tensorboard`` callback writes into the run directory.
EVENT_FILES = "events.out.tfevents.*"
