"""The license terms a base model passes on to what the kit makes from it (adapters, merged checkpoints,
exported packages), by backend. Only Higgs TTS 3 has terms the kit must repeat: Boson releases it under
the Boson Higgs TTS 3 Research and Non-Commercial License (+ a Creator Use Grant), and fine-tunes inherit
it (HIGGS_NOTES §15; the model card of bosonai/higgs-tts-3-4b)."""

from __future__ import annotations

HIGGS3_LICENSE_NAME = "Boson Higgs TTS 3 Research and Non-Commercial License"
HIGGS3_NOTICE = (
    f"license: Higgs TTS 3 is released under the {HIGGS3_LICENSE_NAME} (with Boson's Creator Use Grant). "
    "Adapters and merged models trained from it are derivatives and inherit those terms: research and "
    "non-commercial use only unless Boson grants otherwise. Read the license on bosonai/higgs-tts-3-4b "
    "before you use or share them."
)
NOTICES = {"higgs3": HIGGS3_NOTICE}


def license_notice(backend: str | None) -> str | None:
    """The one-paragraph notice to show and write for a backend's outputs, or None when there is none."""
    return NOTICES.get(backend or "")


def card_license(backend: str | None) -> str:
    """Model-card front-matter lines for the license ("" when the kit has nothing to say)."""
    if license_notice(backend) is None:
        return ""
    return "license: other\nlicense_name: boson-higgs-tts-3-research-non-commercial\n"


def card_section(backend: str | None) -> str:
    """A model card's "License" section ("" when there is none)."""
    notice = license_notice(backend)
    return "" if notice is None else f"\n## License\n\n{notice.removeprefix('license: ')}\n"
