"""`python -m higgs_lora` is the `higgs-lora` command."""

from higgs_lora.cli import main

raise SystemExit(main())
