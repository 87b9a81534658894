"""The App manifest asks for what the product uses, and the Dockerfile runs the server."""

from __future__ import annotations

import yaml

from bot.settings import Settings
from tests.support import ROOT


def test_manifest_permissions_and_events():
    manifest = yaml.safe_load((ROOT / "app.yml").read_text())
    assert manifest["default_permissions"] == {
        "metadata": "read",
        "contents": "write",
        "issues": "write",
        "pull_requests": "write",
        "checks": "write",
        "actions": "write",
        "workflows": "write",
    }
    assert set(manifest["default_events"]) == {
        "issues", "issue_comment", "label", "pull_request", "pull_request_review",
        "pull_request_review_comment", "check_run", "check_suite", "workflow_run",
        "workflow_job", "push",
    }  # fmt: skip
    assert manifest["hook_attributes"]["url"].endswith(Settings().webhook_path)
    assert manifest["hook_attributes"]["active"] is True


def test_container_runs_the_server_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["orchestrator", "serve"]' in dockerfile
    assert "USER 10001" in dockerfile and "HEALTHCHECK" in dockerfile
