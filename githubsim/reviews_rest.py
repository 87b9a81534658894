"""REST routes for reviews and review comments: submit, list, get, comment, reply."""

from __future__ import annotations

from aiohttp import web

from githubsim.http import Refusal, json_answer, not_found, paginate
from githubsim.pulls_model import PullRequest
from githubsim.pulls_rest import PullsRest, _text
from githubsim.reviews import ReviewComment, ReviewRefused, Reviews
from githubsim.routes import Call, Route


class ReviewsRest:
    def __init__(self, reviews: Reviews, pulls_rest: PullsRest) -> None:
        self.reviews, self.pulls_rest = reviews, pulls_rest

    def routes(self) -> list[Route]:
        r, pulls = Route, "/repos/{owner}/{repo}/pulls"
        read = ("repo", "pull_requests")
        write = ("repo", "pull_requests", "write", "read")
        return [
            r("GET", pulls + "/comments/{comment_id}", self.get_comment, *read),
            r("GET", pulls + "/{pull_number}/reviews", self.list_reviews, *read),
            r("POST", pulls + "/{pull_number}/reviews", self.submit, *write),
            r("GET", pulls + "/{pull_number}/reviews/{review_id}", self.get_review, *read),
            r("GET", pulls + "/{pull_number}/comments", self.list_comments, *read),
            r("POST", pulls + "/{pull_number}/comments", self.create_comment, *write),
            r(
                "POST",
                pulls + "/{pull_number}/comments/{comment_id}/replies",
                self.reply,
                *write,
            ),
        ]

    def _comment(self, pull: PullRequest, call: Call) -> ReviewComment:
        try:
            wanted = int(call.request.match_info["comment_id"])
        except ValueError as exc:
            raise not_found() from exc
        found = next((c for c in pull.review_comments if c.id == wanted), None)
        if found is None:
            raise not_found()
        return found

    async def submit(self, call: Call) -> web.Response:
        repository, pull, body = call.repo(), self.pulls_rest.pull(call), call.body or {}
        text = _text(body.get("body"), "body") or ""
        comments = body.get("comments") or []
        for comment in comments:
            _text(comment.get("body"), "body", required=True)
        try:
            review = await self.reviews.submit(
                repository,
                pull,
                call.actor,
                event=str(body.get("event", "COMMENT")),
                body=text,
                comments=comments,
                commit_id=body.get("commit_id"),
            )
        except ReviewRefused as exc:  # this route's 422 lists sentences
            raise Refusal(422, "Unprocessable Entity", [str(exc)]) from exc
        return json_answer(self.reviews.render_review(repository, pull, review))

    async def list_reviews(self, call: Call) -> web.Response:
        repository, pull = call.repo(), self.pulls_rest.pull(call)
        chosen, link = paginate(call.request, pull.reviews, str(call.request.url.with_query(None)))
        return json_answer(
            [self.reviews.render_review(repository, pull, r) for r in chosen], link=link
        )

    async def get_review(self, call: Call) -> web.Response:
        repository, pull = call.repo(), self.pulls_rest.pull(call)
        wanted = call.request.match_info["review_id"]
        review = next((r for r in pull.reviews if str(r.id) == wanted), None)
        if review is None:
            raise not_found()
        return json_answer(self.reviews.render_review(repository, pull, review))

    async def list_comments(self, call: Call) -> web.Response:
        repository, pull = call.repo(), self.pulls_rest.pull(call)
        chosen, link = paginate(
            call.request, pull.review_comments, str(call.request.url.with_query(None))
        )
        return json_answer(
            [self.reviews.render_comment(repository, pull, c) for c in chosen], link=link
        )

    async def create_comment(self, call: Call) -> web.Response:
        repository, pull, body = call.repo(), self.pulls_rest.pull(call), dict(call.body or {})
        _text(body.get("body"), "body", required=True)
        try:
            comment = await self.reviews.comment(repository, pull, call.actor, body)
        except LookupError as exc:
            raise not_found() from exc
        except ReviewRefused as exc:
            raise Refusal(
                422,
                "Validation Failed",
                [{"resource": "PullRequestReviewComment", "code": "custom", "message": str(exc)}],
            ) from exc
        return json_answer(self.reviews.render_comment(repository, pull, comment), status=201)

    async def reply(self, call: Call) -> web.Response:
        repository, pull, body = call.repo(), self.pulls_rest.pull(call), call.body or {}
        text = _text(body.get("body"), "body", required=True)
        assert text is not None
        first = self._comment(pull, call)
        comment = self.reviews.reply(repository, pull, call.actor, first.id, text)
        return json_answer(self.reviews.render_comment(repository, pull, comment), status=201)

    async def get_comment(self, call: Call) -> web.Response:
        repository = call.repo()
        wanted = call.request.match_info["comment_id"]
        for pull in self.pulls_rest.pulls.of(repository):
            for comment in pull.review_comments:
                if str(comment.id) == wanted:
                    return json_answer(self.reviews.render_comment(repository, pull, comment))
        raise Refusal(404, "Not Found")
