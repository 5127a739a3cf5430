"""Reading catalog files (any format and encoding sellers produce) and writing safe outputs."""
