"""Grid sweeps on Optuna's RDB storage: grids, families, workers, progress and reports."""
