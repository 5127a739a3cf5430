"""What a command runs: ``plan``, ``upload``, ``stock``, ``orders``. One module per job, each
on the base every run that writes shares (:mod:`shopsync.jobs.base`).
"""
