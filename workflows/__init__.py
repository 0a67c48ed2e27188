"""The checklist machine in pure Python: no Flask, no database, no SDK.

It takes plain values (including ``now``) and returns results, so it is tested alone.
"""
