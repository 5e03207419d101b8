"""The top of the project: the one place that imports every app and config, and joins them.

`extensions` provides every extension point (health components, retention
purgers, status sources, camera coverage); `health` serves /health/full, which
needs accounts' roles and every component. No app and nothing in config imports
this package (import-linter's "apps" and "config" contracts).
"""
