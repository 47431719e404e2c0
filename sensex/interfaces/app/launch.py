"""Starting the dashboard (`sensex app` calls `main` in its own process): Streamlit's server for `sensex/interfaces/app/main.py`,
with the first page readied in the background while the browser loads (`sensex.interfaces.app.warmup`).

    python -m sensex.interfaces.app.launch --server.port 8501 --server.address 127.0.0.1 [other streamlit run options]
"""

from __future__ import annotations

import sys
from pathlib import Path

MAIN = Path(__file__).resolve().parent / "main.py"


def _option(args: list[str], name: str, default: str) -> str:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return default


def main(args: list[str]) -> None:
    from sensex.interfaces.app import warmup

    warmup.start(_option(args, "--server.address", "127.0.0.1"), int(_option(args, "--server.port", "8501")))

    import streamlit.delta_generator
    from streamlit.web import cli

    # Streamlit decides once whether to warn that a script is not run by `streamlit run` by walking
    # the first script run's stack with inspect.stack() (0.2-0.4 s of the first page): it is.
    streamlit.delta_generator._use_warning_has_been_displayed = True
    # Before it listens, Streamlit reads the metadata of every installed distribution looking for
    # custom components (0.15 s here, with MLflow's dependencies installed). The dashboard uses none.
    try:
        from streamlit.components.v2 import manifest_scanner

        manifest_scanner.scan_component_manifests = lambda *args, **kwargs: []
    except ImportError:  # another Streamlit version: it scans, which is only slower
        pass
    cli.main(["run", str(MAIN), *args], prog_name="streamlit")


if __name__ == "__main__":
    main(sys.argv[1:])
