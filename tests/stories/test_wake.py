"""Which webhooks wake a repository's sprint: those about a `story/<key>` branch only."""

from bot.handlers.stories import about_a_story


def test_story_pull_requests_reviews_and_checks_wake_the_sprint():
    story = {"head": {"ref": "story/1-1-subtract"}}
    assert about_a_story({"pull_request": story, "review": {"state": "approved"}})
    assert about_a_story({"check_run": {"check_suite": {"head_branch": "story/1-2-x"}}})
    assert about_a_story({"check_suite": {"head_branch": "main", "pull_requests": [story]}})


def test_other_branches_wake_nothing():
    assert not about_a_story({"pull_request": {"head": {"ref": "ao/12-create-prd"}}})
    assert not about_a_story({"check_run": {"check_suite": {"head_branch": "main"}}})
    assert not about_a_story({})
