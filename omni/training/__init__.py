"""Training: the LightningModules (flow matching with omni-conditions, the causal VAE), EMA,
optimiser schedule, stage configs and the LightningCLI glue behind `omni fit`."""
