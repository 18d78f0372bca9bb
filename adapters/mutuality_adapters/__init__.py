"""First-party adapters, each registered in the ``mutuality.adapters`` entry-point group."""
