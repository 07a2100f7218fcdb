"""Built-in map-provider plugins: one sub-package per provider."""
