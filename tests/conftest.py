pytest_plugins = ["gpt2lab.pytest_plugin"]
