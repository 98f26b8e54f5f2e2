"""minidl-vision: the book's convolutional networks (sections 5.5-5.12) as minidl plugins.

Registered through the ``minidl`` entry point ``vision = minidl_vision.plugin``.
"""

__version__ = "0.1.0"
