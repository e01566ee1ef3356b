"""The built-in plugins. Each is an ordinary plugin module; none imports torch at import time."""
