"""minidl-concise: the book's concise implementations (sections 3.3, 3.7, 3.10) as minidl plugins.

The registration module is :mod:`minidl_concise.plugin` (entry point ``concise``); the
classes live in :mod:`minidl_concise.components` and :mod:`minidl_concise.optimizers`.
"""

__version__ = "0.1.0"
