"""The business in plain Python: no Qt, no SQLAlchemy.

Read this package to learn how an agency runs renewals in Renewal Desk: the roles and
what each may do (`permissions`), the pipeline stages and their entry criteria
(`stages`), and the vocabulary every other layer uses (`enums`).
"""
