"""A reusable pytest suite that proves an adapter honours mutuality's ports."""
