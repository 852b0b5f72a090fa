"""Layer 5, reports: claim results as data, Markdown, HTML and topology pictures. No pytest."""
