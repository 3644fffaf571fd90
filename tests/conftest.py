pytest_plugins = ["fixtures_llm", "fixtures_speech"]
