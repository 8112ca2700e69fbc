"""deckgen: source-checked Anki decks from YAML cards."""

__version__ = "0.1.0"
