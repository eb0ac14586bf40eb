"""The lake: table schemas, typed rows, the writer that alone owns commit records, the
manifest of what the lake holds (the one document fingerprint), and verify."""
