"""NumPy reference semantics of the project's dialects, on xDSL's interpreter framework."""
