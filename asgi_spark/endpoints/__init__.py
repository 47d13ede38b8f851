"""The model endpoints beside Chat Completions: the Responses API (:mod:`.responses`) and
legacy Completions (:mod:`.completions`), translation layers over the chat pipeline, and what
every endpoint shares (:mod:`.common`)."""
