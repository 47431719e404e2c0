"""Work that spans stages: training and evaluation runs behind the CLI, and the daily job."""
