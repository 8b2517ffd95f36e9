"""The state document: parse, verify, lint, render and patch."""

from vpm.state.parse import StateDocument, parse_state, read_state

__all__ = ["StateDocument", "parse_state", "read_state"]
