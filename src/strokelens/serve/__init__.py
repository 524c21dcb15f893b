"""`strokelens serve`: a local web app that explains a drawing while it is being drawn.

- `schemas`: the JSON API's request and response shapes and the server's size limits.
- `drawing`: a request's strokes checked and turned into a `Sketch` (413 over the limits, 422 otherwise).
- `batcher`: a worker thread that runs queued model work in batches, off the event loop, bounded.
- `handlers`: predict, explain and assist on batches of drawings (what the workers run).
- `app`: the FastAPI application: routes, error handling, body-size limit, the static page.

FastAPI and uvicorn are imported only by `strokelens serve` (and by importing `strokelens.serve.app`).
"""
