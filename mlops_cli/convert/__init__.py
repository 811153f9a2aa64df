"""`mlops convert`: any common model to ONNX, always proved equal to the original.

One module per framework (sklearn, boosting, tensorflow, torch); `parity.py` is shared by all,
`rows.py` finds the rows the check runs on and `service.py` ties them to the store.
"""
