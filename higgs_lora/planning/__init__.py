"""Memory planning before any weight loads: sizes of weights and LoRA (`sizes`), a training step
(`training`), and speaking and merging (`inference`)."""
