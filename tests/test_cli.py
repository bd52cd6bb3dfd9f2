"""The command line refuses what it cannot serve safely, in one line and exit status 2."""

from __future__ import annotations

import pytest

from dashboard.cli import main


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
