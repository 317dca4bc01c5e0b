"""Write docs/config.md, the run configuration reference, from the one definition of every key."""

from pathlib import Path

from organoidrx.pipeline._schema import config_reference

if __name__ == "__main__":
    target = Path(__file__).with_name("config.md")
    target.write_text(config_reference())
    print(f"wrote {target}")
