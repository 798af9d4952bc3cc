"""Training of the swap models: sample generator, losses, optimizers, checkpoints, previews and the trainer."""
