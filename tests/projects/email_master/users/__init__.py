"""The project's own ``users`` app (what cookiecutter-django projects have), labelled
``users`` as Django derives it: reactive-users' master app must install beside it."""
