"""A master project that gives reactive-users' master app a label of its own (``outbox``),
as the README shows: a subclass of ``ReactiveMasterConfig`` named in INSTALLED_APPS."""
