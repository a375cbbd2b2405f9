"""Trained adapters as artefacts: their files (`files`), the setup they were trained with, resolved
once for a command (`setup`), and fitting and loading them onto their base (`fit`)."""
