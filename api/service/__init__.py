"""The router's use cases, free of HTTP: routing, feedback, catalog and the learning loop."""
