"""Running the forecaster unattended: the daily job (`sensex daily`), its alerts, its modes."""
