"""End models: the packaged MiniLM-L6 encoder, the frozen-encoder head and the fine-tuned classifier,
saved as a self-contained model directory that ``tagger tag`` loads."""
