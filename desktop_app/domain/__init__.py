"""The business in plain Python: no Qt, no SQLAlchemy.

Read this package to learn how an agency runs renewals in Renewal Desk: the roles and
what each may do (`permissions`), the pipeline stages and their entry criteria
(`stages`), the renewal transaction state machine and term dates (`transactions`), the
auto-renewal states, trigger times and plugin protocol (`auto_renewal`), and the
vocabulary every other layer uses (`enums`).
"""
