"""What `NativeBackend.workarounds` records: transformers 5's Trainer averages gradient accumulation itself.

With `model_accepts_loss_kwargs = False` (as HiggsTrainer sets it), `Trainer.training_step` divides each
micro-batch loss by the accumulation steps and gives accelerate `num_steps=1`; the 4.46 workaround of
setting `accelerator.gradient_accumulation_steps` would divide twice. Checked here on the real Trainer.
"""

from __future__ import annotations

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from higgs_lora.backends.native.collate import NativeCollator, NativeSample
from higgs_lora.backends.native.model import NativeHiggsForLoRA
from higgs_lora.higgs.chatml import chatml_tokens
from higgs_lora.higgs.loss import higgs_loss
from tests.native.conftest import SYSTEM_PROMPT


class _LossTrainer(Trainer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("label_audio_ids")
        out = model(**inputs)
        return higgs_loss(out.logits, out.expanded_labels, out.audio_logits, labels).total


class _GradientProbe(TrainerCallback):
    def __init__(self) -> None:
        self.gradient: torch.Tensor | None = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.gradient = model.audio_lm_head.weight.grad.clone()


def test_accumulated_gradient_is_the_mean_of_the_micro_batches(
    tmp_path, tiny_config, native_text_tokenizer
) -> None:
    torch.manual_seed(0)
    model = NativeHiggsForLoRA(tiny_config, use_text_head=True)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    model.audio_lm_head.weight.requires_grad_(True)
    generator = torch.Generator().manual_seed(2)
    samples = []
    for text, frames in (("One.", 4), ("Two words.", 7)):
        tokens, labels, _ = chatml_tokens(text, SYSTEM_PROMPT, None, native_text_tokenizer)
        codes = torch.randint(0, 1024, (4, frames), generator=generator)
        samples.append(NativeSample(torch.tensor(tokens), torch.tensor(labels), [codes]))
    collator = NativeCollator(tiny_config)
    expected = torch.zeros_like(model.audio_lm_head.weight)
    for sample in samples:
        batch = collator([sample])
        labels = batch.pop("label_audio_ids")
        out = model(**batch)
        loss = higgs_loss(out.logits, out.expanded_labels, out.audio_logits, labels).total / len(samples)
        expected += torch.autograd.grad(loss, model.audio_lm_head.weight)[0]

    probe = _GradientProbe()
    arguments = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=1,
        gradient_accumulation_steps=2,
        max_steps=1,
        learning_rate=0.0,
        max_grad_norm=0.0,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    trainer = _LossTrainer(
        model=model, args=arguments, train_dataset=samples, data_collator=collator, callbacks=[probe]
    )
    trainer.train()
    assert trainer.accelerator.gradient_accumulation_steps == 1
    torch.testing.assert_close(probe.gradient, expected, rtol=1e-4, atol=1e-7)
