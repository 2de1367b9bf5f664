"""The Qt desktop app. Views reach the database only through services, run by the one
background executor in :mod:`desktop_app.ui.executor`; they never import ``desktop_app.db``
models or sessions."""
