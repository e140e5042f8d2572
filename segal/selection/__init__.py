"""Choosing what to label next: one implementation for the loop and for ``tools/select.py``.

* ``checks.py``: what a budget, a selection rule and pseudo-labels need from the scorer, the dataset and the run mode;
* ``images.py``: whole images, the best ``k`` or the best whose clicks or pixels fit in the budget;
* ``regions.py``: every region of the candidate images scored, the best the budget pays for bought and recorded;
* ``class_balance.py``: regions whose predicted class is rare among the labels rank first;
* ``pseudo_labels.py``: the lowest-scored candidates, with the model's labels, for the next stage;
* ``holdout_growth.py``: a share of each step's new labels joins the holdout;
* ``cost_ledger.py``: what the labels so far cost, in images, regions, clicks and pixels.
"""
