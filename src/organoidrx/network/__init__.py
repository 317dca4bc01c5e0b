"""Network building, shortest-path distances, drug-pathway proximity z-scores."""

__all__: list[str] = []
