"""Reports built from a run: the claims results (data model, JSON, Markdown, text table)."""
