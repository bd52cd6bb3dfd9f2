"""The command line refuses what it cannot serve safely, in one line and exit status 2."""

from __future__ import annotations

import contextlib
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


# -- issue 12: a command line that can do what its messages ask ---------------------------------
@pytest.mark.parametrize(("text", "hint"), [("2", "did you mean 2%?"),
                                            ("person=3,experts=0.5%", "did you mean 3%?")])
def test_human_level_as_a_bare_percentage(text: str, hint: str, no_server: None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--no-browser", "--human-level", text]) == 2
    assert hint in _one_line(capsys)


def _sklearn_csv(tmp_path: Path) -> Path:
    path = tmp_path / "clf.csv"
    rows = [f"e{i},{'validation' if i % 4 else 'train'},{'cat' if i % 2 else 'dog'},"
            f"{0.8 if i % 3 else 0.3}" for i in range(80)]
    path.write_text("ex_id,subset,y_true,y_score\n" + "\n".join(rows) + "\n")
    return path


def test_report_reads_columns_and_positive_class_from_options(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _sklearn_csv(tmp_path)
    base = ["report", str(path), "-o", str(tmp_path / "r.html"), "--no-store"]
    assert main(base) == 2  # the loader cannot find 'label'
    capsys.readouterr()
    cols = ["--label-col", "y_true", "--score-col", "y_score", "--split-col", "subset",
            "--id-col", "ex_id"]
    assert main(base + cols) == 2  # string labels: which one is positive?
    err = capsys.readouterr().err
    assert "'cat'" in err and "'dog'" in err and "(--pos-label CLASS)" in err
    assert main(base + cols + ["--pos-label", "cat"]) == 0
    out = capsys.readouterr().out
    assert "split 'validation' read as 'dev'" in out  # aliases are said
    assert (tmp_path / "r.html").is_file()


def test_serve_passes_column_options_to_the_page(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard import serve
    from dashboard.app import app_from_environment

    seen: dict = {}

    def fake_launch(file: Path, **kwargs: object) -> None:
        seen.update(kwargs, file=file)
        raise RuntimeError("stop here")

    monkeypatch.setattr(serve, "launch_dashboard", fake_launch)
    path = _sklearn_csv(tmp_path)
    cols = ["--label-col", "y_true", "--score-col", "y_score", "--split-col", "subset",
            "--id-col", "ex_id", "--pos-label", "cat"]
    assert main(["serve", str(path), "--no-browser", *cols]) == 2
    out = capsys.readouterr().out
    assert "80 rows" in out and "read as 'dev'" in out
    columns = seen["columns"]
    assert columns == {"label": "y_true", "score": "y_score", "split": "subset",
                       "id": "ex_id", "pos_label": "cat"}
    env = serve.dashboard_env(path, columns=columns)
    app = app_from_environment(env, defer=False)
    assert app.results.positive_class == "cat" and len(app.results.frame) == 80


def test_default_port_then_a_free_one() -> None:
    import socket

    from dashboard import serve

    assert serve.choose_port("127.0.0.1", 9123) == (9123, True)
    with socket.socket() as blocker:
        with contextlib.suppress(OSError):  # if someone else holds it, the same fallback runs
            blocker.bind(("127.0.0.1", serve.DEFAULT_PORT))
        port, preferred = serve.choose_port("127.0.0.1")
    assert (port, preferred) != (serve.DEFAULT_PORT, True) and not preferred
    assert 1 <= port <= 65535


def test_report_counts_the_same_store_as_serve(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard import Results
    from dashboard.annotations import ReviewSession
    from dashboard.cli import default_store

    path = _sklearn_csv(tmp_path)
    cols = ["--label-col", "y_true", "--score-col", "y_score", "--split-col", "subset",
            "--id-col", "ex_id", "--pos-label", "cat"]
    results = Results.from_file(path, label="y_true", score="y_score", split="subset",
                                id="ex_id", pos_label="cat")
    store = default_store(path)
    assert store == tmp_path / "clf.annotations.sqlite"  # what serve prints and uses
    session = ReviewSession(results, store)
    wrong = results.review_rows("dev")["key"].astype(str).tolist()
    session.add_category("Zebra stripes")
    for key in wrong[:3]:
        session.set_tag(key, "Zebra stripes", True)
    session.store.close()
    out_html = tmp_path / "r.html"
    assert main(["report", str(path), "-o", str(out_html), *cols]) == 0
    out = capsys.readouterr().out
    assert f"Reviews from {store}: 3 reviewed examples" in out
    assert "Zebra stripes" in out_html.read_text()
    assert main(["report", str(path), "-o", str(out_html), *cols, "--no-store"]) == 0
    assert "Zebra stripes" not in out_html.read_text()
    missing = tmp_path / "nope.sqlite"
    assert main(["report", str(path), "-o", str(out_html), *cols, "--store", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_tally_grid_default_store_for_the_bundled_demo(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import Results, TallyGrid
    from dashboard.annotations import BUNDLED_DEMO, PACKAGE_DIR

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    before = {p for p in PACKAGE_DIR.rglob("*.sqlite*")}
    grid = TallyGrid(Results.from_file(BUNDLED_DEMO))
    store = Path(grid.store.path)
    assert store == (tmp_path / "xdg" / "ml-diagnosis-dashboard" /
                     "demo.annotations.sqlite").resolve()
    assert {p for p in PACKAGE_DIR.rglob("*.sqlite*")} == before
    assert f"Reviews are saved in {store}" in grid._status.value


class _FakeRunning:
    """What serve gets back from a launch that never started Voilà."""

    def __init__(self) -> None:
        self.stopped = False
        self.base_url, self.token = "http://127.0.0.1:1/", "t" * 32
        self.url = self.base_url
        self.proc = type("P", (), {"poll": lambda _self: 0, "returncode": 0})()

    def stop(self) -> None:
        self.stopped = True


@pytest.mark.parametrize("bad", [False, True])
def test_a_big_source_is_validated_while_the_server_starts(
        bad: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """At or past OVERLAP_BYTES the launcher starts the server (which preheats the first
    page) before the validation's load is done; a bad file still gets its one-line error,
    and the server it started is stopped."""
    from dashboard import cli, serve

    monkeypatch.setattr(cli, "OVERLAP_BYTES", 0)
    running = _FakeRunning()
    seen: dict = {}

    def fake_launch(file: Path, **kwargs: object) -> _FakeRunning:
        seen["printed before the launch"] = capsys.readouterr().out
        return running

    monkeypatch.setattr(serve, "launch_dashboard", fake_launch)
    path = _csv(tmp_path)
    if bad:
        path.write_text("id,split,label,score\n0,dev,0,0.2\n1,dev,1,oops\n")
    code = main(["serve", str(path), "--no-browser", "--store", str(tmp_path / "s.sqlite")])
    assert "Loaded" not in seen["printed before the launch"]
    if bad:
        assert code == 2 and running.stopped
        assert "row 2" in _one_line(capsys)
    else:
        out = capsys.readouterr().out
        assert "Loaded" in out and "2 rows" in out and "Dashboard for r.csv" in out
        assert code == 1 and running.stopped  # the fake server "exited" at once


def test_auto_engine_reads_what_fits_with_pandas_and_the_rest_with_duckdb(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--engine auto (the default): pandas while twice a load's estimated peak fits in the
    memory available, DuckDB past it (saying why), and what was asked for otherwise."""
    import numpy as np
    import pandas as pd

    from dashboard import cli

    path = tmp_path / "r.parquet"
    n = 20_000
    pd.DataFrame({"id": [f"e{i}" for i in range(n)], "split": "dev",
                  "label": np.arange(n) % 2, "score": np.linspace(0, 1, n)}).to_parquet(path)
    need = cli.estimated_load_bytes(path)
    assert need is not None and need >= 7 * 8 * n * 4  # at least 8 bytes a cell, 7x at peak
    monkeypatch.setattr(cli, "_available_memory", lambda: 2 * need)
    assert cli.choose_engine(path, "auto") == ("pandas", None)
    monkeypatch.setattr(cli, "_available_memory", lambda: 2 * need - 1)
    engine, why = cli.choose_engine(path, "auto")
    assert engine == "duckdb" and "--engine pandas" in why
    assert cli.choose_engine(path, "pandas") == ("pandas", None)
    assert cli.choose_engine(tmp_path, "auto")[0] == "duckdb"  # a folder of partitions
    csv = _csv(tmp_path)
    assert cli.estimated_load_bytes(csv) is not None
    monkeypatch.setattr(cli, "_available_memory", lambda: None)  # unknown: hold every row
    assert cli.choose_engine(path, "auto") == ("pandas", None)


def test_serve_says_so_when_no_browser_can_be_opened(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    import webbrowser

    from dashboard.cli import open_in_browser

    monkeypatch.setattr(webbrowser, "open", lambda url: False)
    assert open_in_browser(tmp_path / "open.html") is False
    assert "No browser could be opened here" in capsys.readouterr().out
    monkeypatch.setattr(webbrowser, "open", lambda url: True)
    assert open_in_browser(tmp_path / "open.html") is True
    assert capsys.readouterr().out == ""


# -- issue 21, item 9: each of these printed a traceback, hung, or started a useless server ----
@pytest.mark.parametrize(("option", "expected"), [
    (["--max-kernels", "-1"], "--max-kernels -1"),
    (["--max-kernels", "0"], "--max-kernels 0"),
    (["--timeout", "-1"], "--timeout -1"),
    (["--timeout", "nan"], "--timeout nan"),
    (["--allow-host", "*"], "--allow-host '*'"),
    (["--allow-host", ""], "--allow-host ''"),
    (["--host", "evil.example"], "--host 'evil.example'"),
    (["--host", "bad host"], "--host 'bad host'"),
    (["--engine", "dask", "--scheduler", "garbage"], "--scheduler 'garbage'"),
    (["--human-level", "a=1%,a=2%"], "'a' is named twice"),
    (["--human-level", '{"a": 0.01, "a": 0.02}'], "'a' is named twice"),
    (["--class-names", "0=cat,1=cat"], "two labels are called 'cat'"),
    (["--class-names", "0=cat,0=dog"], "label '0' is named twice"),
])
def test_bad_serve_option_is_one_line(option: list[str], expected: str, tmp_path: Path,
                                      no_server: None,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(_csv(tmp_path)), "--no-browser", *option]) == 2
    err = _one_line(capsys)
    assert err.startswith("error: ") and expected in err, err


@pytest.mark.parametrize("argv", [["serve", "--port", "x"], ["serve", "--bogus"], ["nope"],
                                  ["report"]])
def test_usage_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = _one_line(capsys)
    assert err.startswith("error: ") and "--help" in err and "usage:" not in err


def test_sidecar_integer_human_level_is_served_like_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A sidecar's ``"human_level": 0`` is a JSON int: report took it, serve crashed."""
    from dashboard import serve

    path = _csv(tmp_path)
    path.with_suffix(".json").write_text('{"human_level": 0}')
    seen: dict[str, object] = {}

    def launch(*args: object, **kwargs: object) -> None:
        seen.update(kwargs)
        raise DashboardError("stop here")

    monkeypatch.setattr(serve, "launch_dashboard", launch)
    assert main(["serve", str(path), "--no-browser"]) == 2
    assert seen["human_level"] == {"human level": 0.0}
    assert "stop here" in capsys.readouterr().err
    assert main(["report", str(path), "-o", str(tmp_path / "r.html"), "--no-store"]) == 0


def test_a_renamed_results_file_is_told_where_reviews_are(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21: results_v2.csv beside results.csv's reviews gets its own new default store;
    the launcher says where the other reviews are and how to continue them."""
    from dashboard.annotations import AnnotationStore

    first = _csv(tmp_path, "results.csv")
    with AnnotationStore(tmp_path / "results.annotations.sqlite", dataset=first.name) as store:
        store.set_comment("1", "blurry")
    renamed = _csv(tmp_path, "results_v2.csv")
    assert main(["report", str(renamed), "-o", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert "results.annotations.sqlite" in out and "--store" in out
    assert main(["report", str(renamed), "-o", str(tmp_path / "r.html"), "--store",
                 str(tmp_path / "results.annotations.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "reviewed as 'results.csv'" in out and "1 comments" in out
