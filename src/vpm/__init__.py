"""vpm: a steering engine for software projects built with AI agents."""

__version__ = "0.1.0"
