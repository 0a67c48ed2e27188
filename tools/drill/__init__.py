"""`make drill`: adgate installed on this machine as docs/deploy.md says, then operated.

Run as root with the project's venv: ``.venv/bin/python -m tools.drill`` (``--help``).
Everything happens on loopback, under a temporary folder, with PostgreSQL roles and
databases named for this run, and all of it is removed at the end, also after a failure.
"""
