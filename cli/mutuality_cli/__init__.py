"""The ``mutuality`` command line."""
