"""Readers for what a project holds: files, chat logs, git history."""
