"""HTML pages served by the app; their assets are package data, with no network at run time."""
