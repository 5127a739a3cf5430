"""Platform-agnostic planning and sending: the planner, the engine, the worker threads and
what a run counts. It sees a :class:`~shopsync.platforms.base.Platform`, never a URL.
"""
