"""Files to validated, platform-neutral records: products or stock lines, or row errors.

``records`` reads and validates (in this process, or in worker processes by ``parallel``
for large CSV files), ``cells`` turns cells into model data and model errors into
messages, ``skuindex`` finds duplicate SKUs in bounded memory.
"""
