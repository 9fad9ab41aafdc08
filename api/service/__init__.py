"""The application layer: what every front does with a case besides speaking HTTP or HTML.

The JSON routes (api/routes), and next the staff console and the public pages, call the same functions
to submit (`intake`), read and list (`cases`), act (`updates`, through `cases.act`) and track
(`tracking`); who may see which case is one rule (`visibility`). Errors are `api.errors.ApiError`s,
which each front turns into its own answer.
"""
