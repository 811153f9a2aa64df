"""`mlops profile`: measured latency, throughput and memory of a model, and a sizing from them.

- `data`: the rows a profile sends (read as score-batch reads, or synthesised from the signature)
- `stats`: percentiles and the spread over repeats
- `processes`: CPU time and peak RSS of a process tree (psutil)
- `loadgen`: the HTTP load generator (asyncio, keep-alive) and its own ceiling
- `inprocess`: load through the runtime layer, in this process
- `servers`: a real `mlops serve` process, or the packaged image under Docker, to measure
- `recommend`: the pure function from measured points and targets to a recommendation
- `sweep`: the whole run: validate, measure every point, recommend, confirm, store

Importing this package imports no heavy library.
"""
