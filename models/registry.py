"""A simple on-disk model registry: versions, their metrics, and which one is champion.

Layout: ``ROOT/registry.json`` and ``ROOT/versions/<version>/`` (a copy of a run's ``model/``
plus its ``metrics.json``). Writes go to a temporary file and are renamed into place, so a killed
task never leaves a half-written registry. A new version becomes champion only if its gold_dev
score is not worse than the current champion's; both scores and the decision are recorded.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from filelock import FileLock

from data.atomic import atomic_write_text


class Registry:
    """Every read-modify-write holds ``ROOT/registry.json.lock`` (a file lock), so concurrent
    processes registering or promoting never lose each other's versions."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.file = self.root / "registry.json"
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(self.file) + ".lock")

    def load(self) -> dict:
        if not self.file.exists():
            return {"versions": [], "champion": None, "decisions": []}
        return json.loads(self.file.read_text())

    def _save(self, data: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.file, json.dumps(data, indent=2))

    def register(self, run_dir: str | Path, dev_score: float) -> str:
        """Copy ``run_dir/model`` in as a new version (idempotent per run directory). Only the gold_dev
        (CV) score is recorded: gold_test is for final scoring, never for choosing a champion."""
        with self.lock:
            return self._register(Path(run_dir), dev_score)

    def _register(self, run_dir: Path, dev_score: float) -> str:
        data = self.load()
        for v in data["versions"]:
            if v["run_dir"] == str(run_dir):
                return v["version"]
        version = f"v{len(data['versions']) + 1:04d}-{run_dir.name}"[:64]
        dst = self.root / "versions" / version
        tmp = dst.with_name(dst.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(run_dir / "model", tmp / "model")
        if (run_dir / "metrics.json").exists():
            shutil.copy2(run_dir / "metrics.json", tmp / "metrics.json")
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(tmp, dst)
        data["versions"].append({"version": version, "path": str(dst / "model"), "run_dir": str(run_dir),
                                 "dev_score": dev_score,
                                 "registered_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        self._save(data)
        return version

    def promote_if_not_worse(self, version: str) -> dict:
        with self.lock:
            return self._promote(version)

    def _promote(self, version: str) -> dict:
        data = self.load()
        new = next(v for v in data["versions"] if v["version"] == version)
        champ = next((v for v in data["versions"] if v["version"] == data["champion"]), None)
        promote = champ is None or new["dev_score"] >= champ["dev_score"]
        decision = {"version": version, "dev_score": new["dev_score"],
                    "champion_before": champ["version"] if champ else None,
                    "champion_dev_score": champ["dev_score"] if champ else None,
                    "promoted": promote, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if promote:
            data["champion"] = version
        data["decisions"].append(decision)
        self._save(data)
        return decision

    def champion(self) -> dict | None:
        data = self.load()
        return next((v for v in data["versions"] if v["version"] == data["champion"]), None)
