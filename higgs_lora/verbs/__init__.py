"""Layer 5: one module per command, each resolving its trained setup once and handing it to the
services below (train, prepare, plan, speak, merge, evaluate, export)."""
