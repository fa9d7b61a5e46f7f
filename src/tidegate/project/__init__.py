"""Reading a tidegate project: configuration, models, seeds, tests, unit tests, dashboards."""

from tidegate.project.loader import load_project
from tidegate.project.project import Project

__all__ = ["Project", "load_project"]
