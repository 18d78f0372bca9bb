"""A reusable pytest suite that proves an adapter honours mutuality's ports.

``AdapterContract`` is the suite (subclass it, see docs/adapters.md);
``default_dataset`` is what it seeds; ``mutuality_testkit.memory.MemoryCrm`` is an
in-memory CRM for testing code built on the sync engine.
"""

from .contract import AdapterContract
from .dataset import Dataset, default_dataset

__all__ = ["AdapterContract", "Dataset", "default_dataset"]
