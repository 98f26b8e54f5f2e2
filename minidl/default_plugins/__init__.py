"""minidl's built-in plugins: the notebook's components, metrics and callbacks.

Each module here is registered through the same ``hookimpl`` a third-party plugin uses
(see :data:`minidl.plugins.DEFAULT_PLUGINS`); none imports torch until a component is
built, so listing them stays instant.
"""
