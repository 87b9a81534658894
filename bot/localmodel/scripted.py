"""A rule-based model that knows only what a request carries.

It reads the instruction, the tool list and the documents it is shown, and answers or calls
tools accordingly: a structured answer in the shape the request's schema asks for, a section
built from the template headings it was shown, the files an instruction tells it to write, a
tool call for a file the instruction names that it has not read yet. It also obeys
instructions it finds in the text, as a model might: the runtime's guards must stop those.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

_HEADING = re.compile(r"^(#{1,6})\s+(.+)$", re.MULTILINE)
_FIELD = re.compile(r"<(\w+)(?: data=\"untrusted\")?>\n(.*?)\n</\1>", re.DOTALL)
_BIND = re.compile(r"Bind `?\{doc_workspace\}`? to `([^`]+)`")
_WRITE = re.compile(r"Write `([\w.-]+\.md)`")
_READ = re.compile(r"\bread(?:_file)? `([^`]+)`", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Asked:
    """The request as the model sees it, whatever the wire protocol."""

    system: str
    messages: list[tuple[str, str]]  # (role, text); tool results as ("tool", text)
    tools: list[str]
    schema: Mapping[str, Any] | None

    @property
    def last_user(self) -> str:
        return next((text for role, text in reversed(self.messages) if role == "user"), "")

    def fields(self) -> dict[str, str]:
        return {
            m.group(1).strip().lower(): m.group(2).strip() for m in _FIELD.finditer(self.last_user)
        }


@dataclasses.dataclass(frozen=True)
class ScriptedReply:
    text: str = ""
    structured: Mapping[str, Any] | None = None
    tool: tuple[str, Mapping[str, Any]] | None = None  # (name, arguments)


_ENV = re.compile(r"environment variables|print (?:the )?env", re.IGNORECASE)
_COPY = re.compile(r"Copy the template from `([^`]+)` to `([^`]+)`", re.IGNORECASE)
_APPEND = re.compile(r"Append the final content to `([^`]+)`", re.IGNORECASE)
_CALL = re.compile(r"call the `(\w+)` tool", re.IGNORECASE)


def _called(asked: Asked, name: str) -> bool:
    return any(role == "assistant" and f"(called {name}" in text for role, text in asked.messages)


def _tool_turn(asked: Asked, fields: Mapping[str, str]) -> ScriptedReply | None:
    """What it does when it has tools: it reads what it is told to read — and, being
    gullible, whatever else the request tells it to do, wherever that text sits."""
    everything = asked.system + "\n" + "\n".join(text for _, text in asked.messages)
    wanted = [
        p for p in _READ.findall(everything) if not _called(asked, f'read_file {{"path": "{p}"}}')
    ]
    if "read_file" in asked.tools and wanted:
        return ScriptedReply(tool=("read_file", {"path": wanted[0]}))
    if _ENV.search(everything) and not _called(asked, "print_env"):
        return ScriptedReply(tool=("print_env", {}))
    for name in _CALL.findall(everything):
        if not _called(asked, name):
            return ScriptedReply(tool=(name, {}))
    instruction = fields.get("instruction", "")
    results = [text for role, text in asked.messages if role == "tool"]
    copy, append = _COPY.search(instruction), _APPEND.search(instruction)
    if copy or append:
        if copy is not None:
            source, target = copy.group(1), copy.group(2)
        else:
            assert append is not None
            source = target = append.group(1)
        if "read_file" in asked.tools and not _called(asked, f'read_file {{"path": "{source}"}}'):
            return ScriptedReply(tool=("read_file", {"path": source}))
        if "write_file" in asked.tools and not _called(asked, "write_file"):
            before = results[-1] if results and not results[-1].startswith("refused") else ""
            content = before if copy else f"{before.rstrip()}\n\n{_section(fields)}\n"
            return ScriptedReply(tool=("write_file", {"path": target, "content": content}))
    question = next(
        (
            line.strip(" -*>")
            for line in instruction.splitlines()
            if line.strip().endswith("?") and len(line.strip()) > 12
        ),
        None,
    )
    if "ask" in asked.tools and question and not _called(asked, "ask"):
        return ScriptedReply(tool=("ask", {"question": question}))
    bind, write = _BIND.search(instruction), _WRITE.search(instruction)
    if "write_file" in asked.tools and bind and write and not _called(asked, "write_file"):
        path = f"{bind.group(1).rstrip('/')}/{write.group(1)}"
        return ScriptedReply(
            tool=("write_file", {"path": path, "content": _section(fields) + "\n"})
        )
    if _called(asked, "write_file") and "done" in asked.tools:
        return ScriptedReply(tool=("done", {"summary": "written"}))
    return None


def respond(asked: Asked) -> ScriptedReply:
    properties = (asked.schema or {}).get("properties", {})
    first = next((text for role, text in asked.messages if role == "user"), "")
    if asked.tools and asked.schema is None:
        # In a tool loop the task is the first message; later ones are tool results.
        fields = Asked(asked.system, [("user", first)], [], None).fields()
        turn = _tool_turn(asked, fields)
        if turn is not None:
            return turn
    else:
        fields = asked.fields()
        if "read_file" in asked.tools:
            wanted = [
                p
                for p in _READ.findall(asked.last_user + asked.system)
                if not _called(asked, f'read_file {{"path": "{p}"}}')
            ]
            if wanted:
                return ScriptedReply(tool=("read_file", {"path": wanted[0]}))
    if "choice" in properties:
        options = properties["choice"].get("enum") or ["C"]
        return ScriptedReply(
            structured={"choice": "C" if "C" in options else options[0], "reason": "carries on"}
        )
    if "answer" in properties and properties["answer"].get("enum") == ["yes", "no"]:
        question = fields.get("instruction", asked.last_user).lower()
        documents = fields.get("documents", "")
        present = "exist" in question and "not" not in question and bool(documents)
        return ScriptedReply(structured={"answer": "yes" if present else "no", "confidence": 0.9})
    if "answer" in properties:
        answer = {"answer": f"As planned: {fields.get('goal', 'go on')}", "confidence": 0.9}
        if "reasoning" in properties:
            answer["reasoning"] = "the request gives no reason to do otherwise"
        if "evidence" in properties:
            answer["evidence"] = _support(fields)
        return ScriptedReply(structured=answer)
    if "files" in properties:
        instruction = fields.get("instruction", "")
        bind, write = _BIND.search(instruction), _WRITE.search(instruction)
        files = {}
        if bind and write:
            files[f"{bind.group(1).rstrip('/')}/{write.group(1)}"] = _section(fields) + "\n"
        return ScriptedReply(structured={"files": files, "variables": {}, "summary": "done"})
    if asked.schema is not None:  # a shape it has no rule for: an empty answer
        return ScriptedReply(structured={})
    return ScriptedReply(text=_section(fields))


def _support(fields: Mapping[str, str]) -> str:
    """A line of what it was shown to answer from, quoted; nothing when it was shown none."""
    for name in ("context", "documents", "goal"):
        line = next(
            (x.strip() for x in fields.get(name, "").splitlines() if len(x.strip()) > 8), ""
        )
        if line:
            return line
    return ""


_DECIDED = re.compile(r"^Decided by [^:\n]+: (.+)$", re.MULTILINE)


def _section(fields: Mapping[str, str]) -> str:
    goal = fields.get("goal") or "the step"
    project = fields.get("project") or "the project"
    headings = _HEADING.findall(fields.get("template", ""))[:3]
    # A person's answer the request passes on is written into the work, as asked.
    decided = _DECIDED.search(fields.get("notice", ""))
    also = f"\n\nAs decided: {decided.group(1).strip()}." if decided else ""
    if not headings:
        return f"## {goal}\n\n{project}: {goal.lower()}.{also}"
    return (
        "\n\n".join(
            f"{marks} {title.strip()}\n\n{project} — {title.strip().lower()} ({goal})."
            for marks, title in headings
        )
        + also
    )


def signed(answer: ScriptedReply, signature: str) -> ScriptedReply:
    """`answer` with `signature` below every text it writes (a document, a file), so whoever
    reads that text later knows a scripted model, not a language model, wrote it (as a
    comment in YAML, which must stay YAML)."""
    if answer.tool is not None and answer.tool[0] == "write_file":
        name, arguments = answer.tool
        content = _sign(
            str(arguments.get("path", "")), str(arguments.get("content", "")), signature
        )
        return dataclasses.replace(answer, tool=(name, {**arguments, "content": content}))
    if answer.structured is not None and isinstance(answer.structured.get("files"), dict):
        files = {
            path: _sign(str(path), str(text), signature)
            for path, text in answer.structured["files"].items()
        }
        return dataclasses.replace(answer, structured={**answer.structured, "files": files})
    if answer.text:
        return dataclasses.replace(answer, text=f"{answer.text.rstrip()}\n\n{signature}")
    return answer


#: Files signed with a comment in their own syntax (a signature must leave them valid).
_HASH_COMMENTED = (".yaml", ".yml", ".py", ".sh", ".toml", ".cfg", ".ini", ".txt")
_SLASH_COMMENTED = (".js", ".ts", ".jsx", ".tsx", ".go", ".rs", ".java", ".c", ".h", ".css")


def _sign(path: str, text: str, signature: str) -> str:
    plain = signature.strip("_")
    if path.endswith(_HASH_COMMENTED):
        return f"{text.rstrip()}\n# {plain}\n"
    if path.endswith(_SLASH_COMMENTED):
        return f"{text.rstrip()}\n// {plain}\n"
    if path.endswith((".md", ".markdown", ".rst")) or "." not in path.rsplit("/", 1)[-1]:
        return f"{text.rstrip()}\n\n{signature}\n"
    return text  # a format with no comment it could write safely: left as it is
