"""Engines that write summaries, extractions and wording."""
