import pytest

pytest_plugins = ["fixtures_llm", "fixtures_server", "fixtures_speech"]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No config anywhere: an empty cwd and an empty user config dir."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PENNY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PENNY_CONFIG", raising=False)
    return tmp_path
