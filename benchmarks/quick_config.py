"""The tiny, fast training config the tests and the fault-injection benchmark train with (digits,
small nets, no metrics, no warm-up or augmentation): one text, so the two never drift apart."""

QUICK_CONFIG = """
steps = {steps}
batch_size = 16
log_every = 2
eval_every = 0
checkpoint_every = 4
augment = "none"  # the tests' digits stay unshifted (the default, auto, translates images)
warmup_steps = 0  # the tests' short runs start the game at once (the default, -1, is an automatic warm-up)
runs_dir = "{runs}"
device = "cpu"

[data]
name = "digits"

[energy]
name = "autoencoder"
size = 32

[generator]
name = "mlp"
size = 32
latent_dim = 8

[metrics]
"""
