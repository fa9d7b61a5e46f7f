"""The model graph and the fingerprints that identify each model's data."""

from tidegate.graph.dag import Graph
from tidegate.graph.fingerprint import Fingerprint, fingerprint_project

__all__ = ["Fingerprint", "Graph", "fingerprint_project"]
