"""Training and evaluation of the classification suggester, outside the service.

The service only reads the model (``workflows.classify``); this package makes it:

- ``training``: a logistic regression over word presence by plain-Python stochastic
  gradient descent (AdaGrad steps, L2), a Platt calibration and the threshold with the
  best F1, both from out-of-fold predictions of the training data only.
- ``evaluation``: AUC and stratified k-fold cross-validation of the whole procedure.
- ``cli``: the training data, the model file's metadata, and the command line::

    python -m tools.classifier train --data ../shared/data/classifier/de-AT.json \\
        --out workflows/classifier_model.json
    python -m tools.classifier evaluate --data ../shared/data/classifier/de-AT.json

docs/classifier.md explains the method and the measured quality.
"""
