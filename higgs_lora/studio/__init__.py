"""`higgs-lora studio`: the whole workflow (data → recipe → train → listen → use) in a local web page.

A standard-library HTTP server on 127.0.0.1 over one project folder; every action is a public-API
call or the `higgs-lora` command it shows, run as a process of its own (docs/studio.md).
"""

from higgs_lora.studio.project import OutsideProject, Project
from higgs_lora.studio.server import StudioServer

__all__ = ["OutsideProject", "Project", "StudioServer"]
