"""The teacher's side: grading a submission without running any of its code in the grader.

judge     runs the hidden suites here, asking a worker for what the learner's code computes
remote    the judge's end of the wire: proxies for the worker's objects, plain data back
sandbox   starts a worker inside bubblewrap (or, with --no-sandbox, as a plain process)
runtime/  the worker itself, the only code of this repository that the sandbox can see
grades    grading.toml, grades.json and its schema
"""
