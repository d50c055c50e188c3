"""Your GPT-2: fill in one file at a time, in order, and run `nox -s check`.

Tu GPT-2: completa un archivo cada vez, en orden, y ejecuta `nox -s check`.
"""
