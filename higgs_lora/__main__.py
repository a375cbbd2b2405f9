"""`python -m higgs_lora` is the `higgs-lora` command."""

from .cli import main

raise SystemExit(main())
