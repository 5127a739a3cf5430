"""The adapter contract suite (issue 12): :class:`contract.suite.PlatformContract`.

Every adapter's tests subclass it against the adapter's sandbox dialect; see
docs/architecture.md, "The adapter contract suite".
"""
