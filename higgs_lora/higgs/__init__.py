"""Layer 2: the Higgs format facts every backend shares, written once: the ChatML prompt, the delay
pattern, the loss, the two checkpoint layouts' names and configs, a training example and its codes file."""
