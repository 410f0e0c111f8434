"""The pipeline as real processes on free loopback ports, for the tests and the benchmarks.

moto's SNS/SQS server and a private Redis (``services``), the master in the calling process
with a Celery worker, and per client a daphne and listeners (``stack``, ``client_app``),
started and stopped by PID (``processes``); how to change the master (``master_ops``),
whether a client caught up (``convergence``), the fixed signing keys (``signing``).
Neither ``tests`` nor ``bench`` is imported here: both import this.
"""
