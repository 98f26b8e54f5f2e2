"""Experiments: the run index (SQLite), reading run directories back, comparing runs, sweeps.

One module per concern: :mod:`~minidl.experiments.index` (the database),
:mod:`~minidl.experiments.rundir` (a run directory as an index row),
:mod:`~minidl.experiments.tracking` (recording a training run as it goes),
:mod:`~minidl.experiments.reindex` (rebuilding the index from directories),
:mod:`~minidl.experiments.table` and :mod:`~minidl.experiments.compare` (what
``minidl runs`` prints), :mod:`~minidl.experiments.plot` (curves of several runs),
:mod:`~minidl.experiments.grid` (sweep points) and :mod:`~minidl.experiments.sweep`
(a sweep directory and running its points). None imports torch at module level.
"""
