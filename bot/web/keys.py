"""Typed keys for the long-lived objects the web app holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import simdjson
from aiohttp import web

from bot.git.clones import Clones
from bot.git.disk import Maintenance
from bot.github.client import GitHubClients
from bot.intake.dispatcher import Dispatcher
from bot.intake.journal import Journal
from bot.project.plan import Planner
from bot.project.story_labels import LabelSteering
from bot.runs.github_home import GitHubHome
from bot.runs.steering import Steering
from bot.sandbox.runner import Sandbox
from bot.settings import Settings
from bot.web.unverified import Unverified

if TYPE_CHECKING:  # its import brings the models' SDKs, loaded only where stories run
    from bot.stories.sprints import Sprints

SETTINGS = web.AppKey("settings", Settings)
JOURNAL = web.AppKey("journal", Journal)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
JSON_PARSER = web.AppKey("json_parser", simdjson.Parser)
GITHUB = web.AppKey("github", GitHubClients)
SANDBOX = web.AppKey("sandbox", Sandbox)
CLONES = web.AppKey("clones", Clones)
WORKTREES = web.AppKey("worktrees", Maintenance)
UNVERIFIED = web.AppKey("unverified", Unverified)
GITHUB_HOME = web.AppKey("github_home", GitHubHome)
PLANNER = web.AppKey("planner", Planner)
STEERING = web.AppKey("steering", LabelSteering)
RUN_STEERING = web.AppKey("run_steering", Steering)
SPRINTS: web.AppKey[Sprints] = web.AppKey("sprints")
