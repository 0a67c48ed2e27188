"""The classification suggester: how likely an ad text is political or about a social issue.

Pure Python (standard library only) and explainable: a text's score is a sum of per-word
weights, so the words that pushed it towards "political" can be shown to the ad manager.

- ``text``: the tokenizer (``tokenize``) and the light stemmer (``stem``).
- ``lexicon``: word lists written by hand, the political and social-issue lexicon
  (``LEXICON``, ``Lexicon``) and the words never learned (``NOT_LEARNED``, ``feature``).
- ``suggester``: the model read from ``workflows/classifier_model.json`` (``Suggester``)
  and its answer (``Suggestion``).

Training and evaluation are developer tooling, outside the service: ``tools.classifier``.
Importing this package loads nothing; import the module you need.
"""
