import todo


def test_added_items_are_listed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert todo.main(["add", "write", "the", "brief"]) == 0
    assert todo.main(["list"]) == 0
    assert capsys.readouterr().out == "1 write the brief\n"
