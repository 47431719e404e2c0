"""The shells users touch: the `sensex` CLI, the FastAPI REST API and the Streamlit dashboard.
Each is thin: one library call per command, route or page element."""
