"""Markets: scaffolding a new one from the regional template, and checking one is ready to go
live."""
