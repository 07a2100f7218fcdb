"""The HTTP service: a FastAPI application assembled from the plugins' routers."""
