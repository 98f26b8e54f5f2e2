"""The run index's schema: its tables, their columns, and how a minidl index is told apart.

Documented in the README; ``sqlite3 runs/minidl.db .schema`` shows the same.
"""

from __future__ import annotations

APPLICATION_ID = 0x6D646C69  # "mdli" in the file header: tells a minidl index from another database
SCHEMA_VERSION = 2  # PRAGMA user_version
#: Columns each schema version added to ``runs``: an older index gains them when opened.
ADDED_COLUMNS = {2: ("host TEXT", "pid INTEGER")}

#: The schema, as documented in the README (``sqlite3 runs/minidl.db .schema``).
SCHEMA = """\
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,         -- 8 hex digits, also in DIR/run.json
    dir TEXT NOT NULL UNIQUE,    -- absolute path of the run directory
    sweep TEXT,                  -- id of the sweep it is a point of, or NULL
    status TEXT NOT NULL,        -- running, finished, diverged, interrupted, failed
    started TEXT,                -- ISO 8601 UTC, when training first started
    ended TEXT,                  -- ISO 8601 UTC, when it last ended (NULL while running)
    duration REAL,               -- seconds of training, over every invocation
    dataset TEXT, model TEXT, loss TEXT, optimizer TEXT,  -- component names
    lr REAL, batch_size INTEGER, epochs INTEGER, seed INTEGER,
    epochs_done INTEGER,         -- completed epochs
    final_loss REAL, final_test_loss REAL,  -- the last epoch's
    best_loss REAL, best_test_loss REAL,    -- the lowest of any epoch
    final TEXT,                  -- JSON: the last epoch's record (every metric)
    best TEXT,                   -- JSON: each metric's best (lowest; highest for *accuracy)
    config TEXT,                 -- JSON: the resolved configuration (DIR/config.toml)
    command TEXT,                -- JSON: the last command line, a list of strings
    versions TEXT,               -- JSON: DIR/versions.json
    stop_reason TEXT,            -- why training stopped early (e.g. early stopping)
    error TEXT,                  -- why it failed or diverged
    host TEXT, pid INTEGER,      -- where the last invocation ran: a dead pid on this host means killed
    updated TEXT                 -- ISO 8601 UTC, when this row was last written
);
CREATE INDEX IF NOT EXISTS runs_by_sweep ON runs (sweep);
CREATE INDEX IF NOT EXISTS runs_by_started ON runs (started);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,         -- 8 hex digits, also in DIR/sweep.json
    dir TEXT NOT NULL UNIQUE,    -- absolute path of the sweep directory
    created TEXT,                -- ISO 8601 UTC
    sampler TEXT,                -- grid or random
    points INTEGER,              -- how many runs the sweep trains
    spec TEXT                    -- JSON: DIR/sweep.json (grid, sampler, seed, base config, points)
);
"""
RUN_COLUMNS = ("id", "dir", "sweep", "status", "started", "ended", "duration", "dataset", "model", "loss",
               "optimizer", "lr", "batch_size", "epochs", "seed", "epochs_done", "final_loss",
               "final_test_loss", "best_loss", "best_test_loss", "final", "best", "config", "command",
               "versions", "stop_reason", "error", "host", "pid", "updated")
SWEEP_COLUMNS = ("id", "dir", "created", "sampler", "points", "spec")
