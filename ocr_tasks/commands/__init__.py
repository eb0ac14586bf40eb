"""CLI subcommands, one module each; logic lives in the library modules they call."""
