"""Running `todo` in a fresh directory, as a person would in a shell."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import unittest

from todo.cli import main


class InAFreshDirectory(unittest.TestCase):
    def setUp(self) -> None:
        self.before = os.getcwd()
        self.folder = tempfile.TemporaryDirectory()
        os.chdir(self.folder.name)

    def tearDown(self) -> None:
        os.chdir(self.before)
        self.folder.cleanup()

    def todo(self, *argv: str) -> tuple[int, str, str]:
        """`todo ARGV`: its exit code, what it printed and what it printed as errors."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        return code, out.getvalue(), err.getvalue()
