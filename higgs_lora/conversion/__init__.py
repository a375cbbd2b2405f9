"""Layout conversion between boson-multimodal's and transformers' Higgs v2: adapters, checkpoint
files (renamed without loading a tensor) and the model card a merged checkpoint carries."""
