from tests.support import InAFreshDirectory


class UnknownCommand(InAFreshDirectory):
    def test_an_unknown_command_shows_the_usage(self):
        code, _, err = self.todo("frobnicate")
        self.assertEqual(code, 2)
        self.assertIn("usage: todo", err)
