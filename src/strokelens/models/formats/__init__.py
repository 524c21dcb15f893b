"""Model files as they are published, read from their content: one module per format."""
