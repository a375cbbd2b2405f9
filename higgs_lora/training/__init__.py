"""Training services: the Trainer with the Higgs loss (`trainer`), its arguments, checkpoints that
survive crashes, listening while training, and the report a finished run leaves."""
