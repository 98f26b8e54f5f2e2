"""minidl-sequence: the book's chapter 6 (recurrent neural networks) as minidl plugins.

Registered through the ``minidl`` entry point ``sequence = minidl_sequence.plugin``.
"""

__version__ = "0.1.0"
