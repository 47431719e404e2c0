"""Everything MLflow: run tracking, the model registry with its promotion gate, the promotion
lock, the production pointer that servers read without MLflow, and crash repair."""
