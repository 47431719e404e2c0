"""The Streamlit dashboard: reads only, through sensex.serving or the REST API."""
