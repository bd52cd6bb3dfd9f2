"""The command line refuses what it cannot serve safely, in one line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli import check_input, main, parse_size
from dashboard.errors import DashboardError


@pytest.mark.parametrize("token", ["short", "x" * 31])
def test_short_token_is_refused(token: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--no-browser", "--token", token]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "at least 32 characters" in err


def test_short_token_from_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DASHBOARD_TOKEN", "abc")
    assert main(["serve", "--no-browser"]) == 2
    assert "at least 32 characters" in capsys.readouterr().err


@pytest.fixture()
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve must refuse before starting anything."""
    from dashboard import serve

    def no_launch(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server must not start")

    monkeypatch.setattr(serve, "launch_dashboard", no_launch)


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _csv(tmp_path: Path, name: str = "r.csv") -> Path:
    path = tmp_path / name
    path.write_text("id,split,label,score\n0,dev,0,0.2\n1,dev,1,0.7\n")
    return path


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536"])
def test_port_out_of_range(port: str, no_server: None,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--no-browser", "--port", port]) == 2
    assert "between 1 and 65535" in _one_line(capsys)


def test_file_over_the_size_limit(tmp_path: Path, no_server: None,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.csv"
    with open(path, "w") as f:
        f.write("id,split,label,score\n")
        f.writelines(f"{i},dev,{i % 2},0.5\n" for i in range(200_000))
    for command in ("serve", "report"):
        args = [command, str(path), "--max-size", "1MB"]
        assert main([*args, "--no-browser"] if command == "serve" else args) == 2
        err = _one_line(capsys)
        assert str(path) in err and "--max-size 0" in err
    check_input(path, parse_size("0"))  # the override reads it


def test_mostly_empty_csv_is_refused_before_reading(tmp_path: Path, no_server: None,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "holes.csv"
    path.write_text("id,split,label,score\n0,dev,0,0.2\n" + ",,,\n" * 5000 + "\n" * 5000)
    assert main(["serve", "--no-browser", str(path)]) == 2
    assert "rows are empty" in _one_line(capsys)


def test_parse_size() -> None:
    assert parse_size("1GB") == 1 << 30
    assert parse_size("500MB") == 500 << 20
    assert parse_size("0") == 0 and parse_size("2048") == 2048
    with pytest.raises(DashboardError):
        parse_size("lots")


@pytest.mark.parametrize(("content", "words"), [
    ("{not json", "not valid JSON"),
    ('["title", "x"]', "must be a JSON object"),
    ('"just a string"', "must be a JSON object"),
    (None, "cannot read the sidecar"),
])
def test_bad_sidecar_is_refused_naming_it(tmp_path: Path, content: str | None, words: str,
                                          no_server: None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    results = _csv(tmp_path)
    sidecar = tmp_path / "r.json"
    if content is None:
        sidecar.mkdir()  # unreadable as a file, even for root
    else:
        sidecar.write_text(content)
    for command in ("serve", "report"):
        args = [command, str(results)]
        assert main([*args, "--no-browser"] if command == "serve" else args) == 2
        err = _one_line(capsys)
        assert str(sidecar) in err and words in err
