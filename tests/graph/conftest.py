"""The graph tests load projects the same way the project tests do."""

from tests.project.conftest import load, load_error

__all__ = ["load", "load_error"]
