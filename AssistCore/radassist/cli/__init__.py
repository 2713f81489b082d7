"""The `radassist` command line: one thin layer over the assistcore API."""
