"""minidl-classify: the book's classification chapter (3.4-3.10) as minidl plugins.

Registered through the ``minidl`` entry point ``classify = minidl_classify.plugin``.
"""

__version__ = "0.1.0"

MAX_SIDE = 1024  # the largest side the image datasets resize to (the book's CNNs take up to 224)
