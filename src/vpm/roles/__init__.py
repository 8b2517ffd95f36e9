"""The five roles: watcher, curator, planner, synthesizer, archivist."""
