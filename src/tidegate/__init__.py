"""tidegate: CI/CD and GitOps for data platforms.

The public Python API is the :class:`~tidegate.context.Context` facade; everything else is
reachable from it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
