"""Units of work: the only code that writes.

Every public function here takes the database and the acting user, opens one
transaction, checks the permission matrix, applies the domain rules, writes, records an
audit event in the same transaction and commits. It returns plain dataclasses, never live
ORM objects, so no view can lazy-load from the database on the GUI thread.
"""
