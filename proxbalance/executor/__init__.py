"""The executor: validated migrations that happen exactly once, batches, cancel, rollback, evacuation.

Everything that changes the cluster goes through here. Modules: ``context`` (ExecContext), ``live`` (one
consistent live view of the cluster from PVE), ``validate`` (the checks), ``migrations`` (start, refresh,
cancel, reconcile), ``progress`` (PVE task log parsing), ``batch`` (dependency order and in-flight limits),
``maintenance`` and ``evacuation``.
"""
