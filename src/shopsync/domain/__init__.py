"""The domain: products and rows as plain data, their JSON text and its digest.

The bottom layer: it imports nothing of shopsync but the exception tree.
"""
