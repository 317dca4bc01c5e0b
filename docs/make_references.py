"""Write docs/config.md and docs/cli.md, the references generated from the one definition of every key and flag."""

from pathlib import Path

from organoidrx.cli import cli_reference
from organoidrx.pipeline._schema import config_reference

if __name__ == "__main__":
    folder = Path(__file__).parent
    for name, text in (("config.md", config_reference()), ("cli.md", cli_reference())):
        (folder / name).write_text(text)
        print(f"wrote {folder / name}")
