"""`ModelRegistry` as serving uses it: the MLflow registry (`sensex.registry.model_registry`)
plus one serving duty when the production alias moves: the new model's latest-session inputs
are computed and kept (`prepare_latest_windows`), so a running server's next forecast reads
them instead of computing features. Run as `python -m sensex.serving.model_registry` it sets
up automated promotion, as the original `python model_registry.py` did.
"""

from __future__ import annotations

from sensex.data import store
from sensex.market import calendar
from sensex.registry import model_registry
from sensex.serving import window_cache
from sensex.serving.latest_windows import prepare_latest_windows


class ModelRegistry(model_registry.ModelRegistry):
    def _production_moved(self) -> None:
        prepare_latest_windows(self.settings, modes=(self.mode,))

    def doctor(self) -> dict:
        """First the files serving derives from the store and the calendar: damaged window-cache
        files are removed (servers compute them again), a damaged calendar cache and a damaged
        store meta.json are rebuilt, and a damaged data file is reported, since only a backup or
        a new import can replace it; then the registry's own repair."""
        removed = [str(path) for path in window_cache.remove_damaged(self.settings.cache_dir / "windows")]
        repairs = ["rebuilt the BSE calendar cache"] if calendar.repair_cache() is not None else []
        meta_file = self.settings.store_dir / store.META_FILE
        before = meta_file.read_bytes() if meta_file.is_file() else None
        problem = store.problem(self.settings.store_dir)  # reading meta.json rebuilds it when damaged
        if before is not None and meta_file.is_file() and meta_file.read_bytes() != before:
            repairs.append("rebuilt the store's meta.json from its data file")
        result = super().doctor()
        return {**result, "removed": [*removed, *result["removed"]], "repairs": [*repairs, *result["repairs"]],
                "store_problem": problem, "changed": bool(result["changed"] or removed or repairs)}

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
