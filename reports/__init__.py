"""Reports: a run in, HTML and Markdown out."""
