"""Models: the ConvLSTM (training only, torch), baselines, calibration, evaluation, export."""
