"""The Salesforce adapter (extra ``salesforce``, on simple-salesforce).

Importing this package needs no third-party package: simple-salesforce is imported
when :meth:`SalesforcePlugin.connect` runs, and a missing one raises
:class:`mutuality_core.errors.MissingDependencyError`.
"""

from mutuality_adapters.salesforce.plugin import SalesforcePlugin, plugin

__all__ = ["SalesforcePlugin", "plugin"]
