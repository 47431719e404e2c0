"""`ModelRegistry` as serving uses it: the MLflow registry (`sensex.registry.model_registry`)
plus one serving duty when the production alias moves: the new model's latest-session inputs
are computed and kept (`prepare_latest_windows`), so a running server's next forecast reads
them instead of computing features. Run as `python -m sensex.serving.model_registry` it sets
up automated promotion, as the original `python model_registry.py` did.
"""

from __future__ import annotations

from sensex.registry import model_registry
from sensex.serving.model_server import prepare_latest_windows


class ModelRegistry(model_registry.ModelRegistry):
    def _production_moved(self) -> None:
        prepare_latest_windows(self.settings, modes=(self.mode,))


def main() -> int:
    import json
    import sys

    from sensex.core.errors import SensexError

    try:
        print(json.dumps(ModelRegistry().setup_automated_promotion(), indent=1, default=str))
    except SensexError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
