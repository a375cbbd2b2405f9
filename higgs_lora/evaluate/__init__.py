"""`higgs-lora eval`: is the voice any good? Intelligibility, speaker similarity, stopping.

One module per concern: `texts` (what is spoken), `metrics` (the figures), `run` (speak, transcribe,
score, aggregate), `page` (the listening page, plot and summary), `callback` (the `[eval]` table
during training: figures every N steps and the best checkpoint kept).
"""
