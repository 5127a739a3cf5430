"""What shopsync keeps between runs and about them: the ledger, the audit log, the profile
lock, the metrics file.
"""
