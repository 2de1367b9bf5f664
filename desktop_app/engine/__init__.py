"""The timer service's logic: plain Python, the clock passed in, work done through services.

Hosts are thin: a Qt timer in ``ui/timer_host.py`` and ``renewal-desk scheduler`` in
``cli/``.
"""
