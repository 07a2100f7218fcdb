"""Built-in channel plugins: one sub-package per messaging network."""
