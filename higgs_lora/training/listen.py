"""Listen while training: the current adapter speaks the recipe's `[samples] texts` at an interval.

Loss alone does not tell that a voice skips words or never stops; hearing it does. WAVs land in
adapters/<name>/samples/step-N/ and in TensorBoard's audio tab. Generation runs on the live model (LoRA
layers injected, nothing merged), under no_grad, and puts the model back in training mode. That is the
model `speak` and `eval` load by default afterwards (`adapter.setup.speech_setup`): the base as the
recipe loads it, the adapter unmerged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from higgs_lora.backends.speech import TrainingSpeaker
from higgs_lora.core.schema import SamplesConfig


class ListenCallback(TrainerCallback):
    def __init__(
        self,
        config: SamplesConfig,
        out: Path,
        text_tokenizer: Any,
        audio_tokenizer: Any,
        system_prompt: str,
        ref_audio: Path | None = None,
        speakers: TrainingSpeaker | None = None,  # shared with [eval]; one of its own if None
    ) -> None:
        self.config = config
        self.out = out
        self.text_tokenizer = text_tokenizer
        self.audio_tokenizer = audio_tokenizer
        self.system_prompt = system_prompt
        self.ref_audio = ref_audio
        self.speakers = speakers or TrainingSpeaker(text_tokenizer, audio_tokenizer, system_prompt)
        self.speaker: Any = None
        self.writer: Any = None

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and state.global_step % self.config.every_steps == 0:
            self.speak_all(model, state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self.writer is not None:
            self.writer.close()

    def speak_all(self, model: Any, step: int) -> list[Path]:
        from torch.utils.tensorboard import SummaryWriter

        if self.speaker is None:
            self.speaker = self.speakers(model)
            self.writer = SummaryWriter(str(self.out / "logs"))
        folder = self.out / "samples" / f"step-{step}"
        written = []
        for index, text in enumerate(self.config.texts):
            speech = self.speaker(
                text,
                self.ref_audio,
                self.config.ref_text,
                seed=self.config.seed,
                temperature=self.config.temperature,
                max_seconds=self.config.max_seconds,
            )
            written.append(speech.save(folder / f"{index:02d}.wav", force=True))
            self.writer.add_audio(f"samples/{index:02d}", speech.audio, step, sample_rate=speech.sample_rate)
            self.writer.add_text(f"samples/{index:02d}/text", text, step)
        self.writer.flush()
        return written
