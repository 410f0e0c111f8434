"""What only the tests use: ``browser`` (how Chromium is launched), ``fault_proxy`` (a TCP
proxy that drops or stalls a service), and the ``reliability`` and ``security`` records the
docs are rendered from. The pipeline the suites run on is ``devstack``."""
