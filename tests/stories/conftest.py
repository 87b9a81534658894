"""The real sandbox (bubblewrap) for the stories' test runs, and the stage most tests share."""

import pytest

from tests.sandbox.conftest import sandbox
from tests.stories.project import ScriptedModel
from tests.stories.stage import make_stage

__all__ = ["sandbox"]


@pytest.fixture
async def stage(make_sim, app_private_key, graphql_description, tmp_path, sandbox, aiohttp_server):
    sim = await make_sim(graphql=graphql_description)
    model = ScriptedModel()
    server = await aiohttp_server(model.app())
    made = await make_stage(
        sim, app_private_key, model, str(server.make_url("")), sandbox, tmp_path / "data"
    )
    yield made
    await made.close()
    assert made.model.invalid == []
